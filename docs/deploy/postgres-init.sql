-- The bundled plugins keep their own tables in databases of their own (plugins.ticket.dsn, plugins.payments.dsn).
CREATE DATABASE kefu_tickets OWNER kefu;
CREATE DATABASE kefu_payments OWNER kefu;
