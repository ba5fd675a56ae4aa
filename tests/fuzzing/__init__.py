"""Contract fuzzing: Schemathesis against the API served by gunicorn (tests/test_contract_fuzzing.py)."""
