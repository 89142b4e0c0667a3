// A desktop notification and a short tone when a new conversation is assigned.
// Browsers allow both only after a user gesture: enableAlerts() is called from a click (sign-in, the bell button).
let audio = null;

export function notificationsSupported() {
  return typeof Notification !== 'undefined';
}

export function alertsReady() {
  const soundReady = audio !== null && audio.state === 'running';
  const notifyDecided = !notificationsSupported() || Notification.permission !== 'default';
  return soundReady && notifyDecided;
}

export async function enableAlerts() {
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  if (AudioContextClass && audio === null) audio = new AudioContextClass();
  if (audio && audio.state !== 'running') await audio.resume().catch(() => undefined);
  if (notificationsSupported() && Notification.permission === 'default') {
    await Notification.requestPermission().catch(() => undefined);
  }
}

function tone() {
  if (audio === null || audio.state !== 'running') return;
  const start = audio.currentTime;
  const oscillator = audio.createOscillator();
  const gain = audio.createGain();
  oscillator.type = 'sine';
  oscillator.frequency.setValueAtTime(880, start);
  oscillator.frequency.setValueAtTime(1320, start + 0.09);
  gain.gain.setValueAtTime(0.12, start);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.3);
  oscillator.connect(gain).connect(audio.destination);
  oscillator.start(start);
  oscillator.stop(start + 0.3);
}

export function alertNewChat(title, body) {
  tone();
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  const note = new Notification(title, { body, tag: 'kefu-new-chat' });
  note.onclick = () => window.focus();
}
