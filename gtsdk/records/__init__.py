"""The terminal's durable records (clauses 6.3, 7.1.3, 10.1, 10.2): 事项 catalogue, transactions, 好差评,
faults, availability, inspections, host health — and the outbox that carries them to the fleet platform."""
