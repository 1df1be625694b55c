# Kakehashi — the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
PIP_AUDIT_VERSION := 2.9.0
# e.g. AUDIT_FLAGS="-s osv", or --ignore-vuln <id> for a finding docs/security.md shows does not apply
AUDIT_FLAGS ?=
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock 2>/dev/null | cut -c1-12)
export RASA_TELEMETRY_ENABLED := false
export PYTHONDONTWRITEBYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup run test lint audit format train nlu-report eval bench-db bench-bot bench-scale test-odd-inputs lock db-reset browser run-prod-local

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(VENV)/bin/uv || $(VENV)/bin/pip install -q "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP) ## Create .venv with the pinned environment (idempotent)

lock: ## Re-resolve requirements/requirements.in into requirements.lock
	$(VENV)/bin/uv pip compile requirements/requirements.in --overrides requirements/overrides.txt \
		--python-version 3.11 -o requirements.lock

run: setup ## Train if needed, then run the assistant on SQLite with a web page to chat in
	$(PY) -m bot.run

run-prod-local: setup ## The production stack locally: 2 Rasa instances on PostgreSQL + Redis behind the balancer
	$(PY) -m bot.prod

train: setup ## Train the Rasa model if data/, domain.yml or config.yml changed
	$(PY) -m bot.train

test: setup browser ## Set up and run the whole test suite (SQLite and PostgreSQL, model, browser)
	$(PY) -m pytest

lint: setup ## ruff lint and format check, rasa data validate
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/rasa data validate --data data --domain domain.yml --config config.yml --quiet

audit: setup ## pip-audit of requirements.lock (needs pypi.org's advisory API; findings: docs/security.md)
	$(VENV)/bin/uv tool run --from "pip-audit==$(PIP_AUDIT_VERSION)" pip-audit -r requirements.lock \
		--no-deps --disable-pip --strict --progress-spinner off $(AUDIT_FLAGS)

format: setup ## Format the code with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

nlu-report: train ## rasa test on the held-out NLU split and test stories → results/
	$(PY) -m bot.evaluate

eval: train ## Blind evaluation: play eval/blind/*.yml over REST, pass rate by kind, language, feature
	$(PY) -m eval.run --json results/eval.json

bench-db: setup ## Knowledge-base benchmark: search/recommend p50/p95 at 1k/100k/1M orgs
	$(PY) -m bench.db_bench

bench-bot: train ## Assistant benchmark: latency, throughput, training and start-up figures
	$(PY) -m bench.bot_bench

bench-scale: train ## 1 vs 2 Rasa instances behind the balancer (PostgreSQL, Redis): msg/s, latency, CPU
	$(PY) -m bench.scale_bench

test-odd-inputs: train ## All 10,000 generated odd inputs through REST, socket.io and Telegram (~31 min)
	KAKEHASHI_ODD_INPUTS=10000 $(PY) -m pytest tests/test_odd_inputs.py -s

db-reset: setup ## Delete the embedded SQLite database (it is re-created and seeded on next use)
	rm -f var/kakehashi.db var/kakehashi.db-wal var/kakehashi.db-shm

browser: ## Install Debian's chromium (and CJK fonts, for Japanese in screenshots) for the browser tests if missing
	@command -v chromium >/dev/null && fc-list | grep -qi "noto sans cjk" || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }
