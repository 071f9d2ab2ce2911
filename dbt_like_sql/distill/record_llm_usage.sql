-- Records one LLM request: who it was for, what it cost, and why it fell back if it did.
INSERT INTO llm_usage (run_id, day, model, users, attempts, input_tokens, output_tokens, cost_usd, fallback_reason, detail, latency_s)
VALUES (%(run_id)s, %(day)s, %(model)s, %(users)s, %(attempts)s, %(input_tokens)s, %(output_tokens)s,
        %(cost_usd)s, %(fallback_reason)s, %(detail)s, %(latency_s)s)
