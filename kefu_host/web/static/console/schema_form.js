import { html } from 'htm/preact';
import { useMemo, useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';

// A form generated from an action's JSON Schema (`params` in the welcome frame): one field per property.
// Kinds: enum (a select), boolean (a checkbox), integer and number (numeric inputs), string (a text input);
// anything else (objects, arrays) is typed as JSON. The host validates the arguments again before running.

function mainType(schema) {
  const type = Array.isArray(schema.type) ? schema.type.find((name) => name !== 'null') : schema.type;
  return type;
}

export function fieldsOf(schema) {
  const required = new Set(schema?.required || []);
  return Object.entries(schema?.properties || {}).map(([name, prop]) => {
    const type = mainType(prop);
    let kind = 'json';
    if (Array.isArray(prop.enum)) kind = 'enum';
    else if (['string', 'integer', 'number', 'boolean'].includes(type)) kind = type;
    return { name, kind, prop, required: required.has(name), label: prop.title || name };
  });
}

export function initialValues(fields) {
  const values = {};
  for (const { name, kind, prop } of fields) {
    if (kind === 'boolean') values[name] = prop.default === true;
    else if (kind === 'enum') values[name] = prop.default !== undefined && prop.enum.includes(prop.default)
      ? String(prop.enum.indexOf(prop.default)) : '';
    else if (kind === 'json') values[name] = prop.default !== undefined ? JSON.stringify(prop.default) : '';
    else values[name] = prop.default !== undefined ? String(prop.default) : '';
  }
  return values;
}

// The form's values -> the args object, or {errors} naming the fields that are missing or do not parse.
export function collect(fields, values) {
  const args = {};
  const errors = {};
  for (const field of fields) {
    const raw = values[field.name];
    if (field.kind === 'boolean') {
      args[field.name] = raw === true;
      continue;
    }
    if (raw === '' || raw === undefined) {
      if (field.required) errors[field.name] = t('form.required');
      continue;
    }
    if (field.kind === 'enum') {
      args[field.name] = field.prop.enum[Number(raw)];
    } else if (field.kind === 'integer' || field.kind === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value) || (field.kind === 'integer' && !Number.isInteger(value))) {
        errors[field.name] = t(field.kind === 'integer' ? 'form.integer' : 'form.number');
      } else args[field.name] = value;
    } else if (field.kind === 'json') {
      try {
        args[field.name] = JSON.parse(raw);
      } catch {
        errors[field.name] = t('form.json');
      }
    } else args[field.name] = raw;
  }
  return Object.keys(errors).length ? { errors } : { args };
}

function Input({ field, id, describedBy, value, onValue }) {
  const { prop } = field;
  const common = { id, name: field.name, 'aria-describedby': describedBy, 'aria-required': field.required ? 'true' : undefined };
  const text = (event) => onValue(event.currentTarget.value);
  if (field.kind === 'enum') {
    return html`<select ...${common} value=${value} onChange=${text}>
      <option value="">${t('form.choose')}</option>
      ${prop.enum.map((option, n) => html`<option value=${String(n)}>${String(option)}</option>`)}
    </select>`;
  }
  if (field.kind === 'boolean') {
    return html`<input type="checkbox" ...${common} checked=${value} onChange=${(e) => onValue(e.currentTarget.checked)} />`;
  }
  if (field.kind === 'integer' || field.kind === 'number') {
    return html`<input type="number" inputmode=${field.kind === 'integer' ? 'numeric' : 'decimal'} ...${common}
      step=${field.kind === 'integer' ? '1' : 'any'} min=${prop.minimum} max=${prop.maximum} value=${value}
      onInput=${text} />`;
  }
  if (field.kind === 'string') {
    return html`<input type="text" ...${common} minlength=${prop.minLength} maxlength=${prop.maxLength} value=${value}
      autocomplete="off" onInput=${text} />`;
  }
  return html`<textarea ...${common} rows="2" placeholder="JSON" value=${value} onInput=${text}></textarea>`;
}

// Required fields are checked here (and named in the form), not by the browser's own validation bubbles.
export function SchemaForm({ schema, idPrefix, submitLabel, busy, errors = {}, onSubmit }) {
  const fields = useMemo(() => fieldsOf(schema), [schema]);
  const [values, setValues] = useState(() => initialValues(fields));
  const submit = (event) => {
    event.preventDefault();
    onSubmit(collect(fields, values));
  };
  return html`<form class="schema-form" onSubmit=${submit} novalidate>
    ${fields.map((field) => {
      const id = `${idPrefix}-${field.name}`.replace(/[^A-Za-z0-9_-]/g, '_');
      const hint = field.prop.description ? `${id}-hint` : '';
      const error = errors[field.name] ? `${id}-error` : '';
      return html`<div class=${`field kind-${field.kind}`} key=${field.name}>
        <label for=${id}>${field.label}${field.required ? html` <span class="req">${t('form.required_mark')}</span>` : ''}</label>
        <${Input} field=${field} id=${id} describedBy=${[hint, error].filter(Boolean).join(' ') || undefined}
          value=${values[field.name]} onValue=${(value) => setValues({ ...values, [field.name]: value })} />
        ${hint && html`<p class="hint" id=${hint}>${field.prop.description}</p>`}
        ${error && html`<p class="error" id=${error}>${errors[field.name]}</p>`}
      </div>`;
    })}
    <button type="submit" disabled=${busy}>${submitLabel}</button>
  </form>`;
}
