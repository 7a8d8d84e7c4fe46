# LycheeMem developer commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.DEFAULT_GOAL := help
.PHONY: help serve test lint format bench clean venv demo

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet -e ".[dev,longdoc]"
	touch $@ $(VENV)/.installed

serve: $(VENV)/.installed ## set up .venv and run the server on 127.0.0.1:8000 (memory-only without an API key)
	@if [ ! -f web-demo/dist/index.html ]; then \
	  if command -v npm >/dev/null; then $(MAKE) --no-print-directory demo || echo "web demo build failed: /demo is unavailable"; \
	  else echo "npm not found: the web demo at /demo is unavailable (install Node.js >= 20 and run make demo)"; fi; \
	fi
	$(PY) main.py

demo: ## build the web demo into web-demo/dist (served at /demo; needs Node.js >= 20 and npm)
	cd web-demo && npm ci --no-audit --no-fund && npm run build

test: $(VENV)/.installed-dev ## set up .venv with dev extras and run the whole test suite
	bash scripts/prepare-plugin-tests.sh
	bash scripts/prepare-demo-tests.sh
	$(PY) -m pytest

lint: $(VENV)/.installed-dev ## ruff lint and format check, import-layer contracts, mypy
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	@if [ -d web-demo/node_modules ]; then cd web-demo && npx --no-install tsc --noEmit; \
	else echo "web-demo: node_modules missing, run make demo to type-check it"; fi
	@bash scripts/prepare-plugin-tests.sh
	@if [ -d openclaw-plugin/node_modules ]; then cd openclaw-plugin && npx --no-install tsc --noEmit; \
	else echo "lint: skipping the OpenClaw plugin typecheck (no node/npm)"; fi

format: $(VENV)/.installed-dev ## apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix src tests bench examples
	$(VENV)/bin/ruff format src tests bench examples

bench: $(VENV)/.installed-dev ## run the benchmarks (not part of make test; the 1M search case alone takes ~10 min)
	$(PIP) install -q -e ".[dev,longdoc,bench]"
	for n in 10000 100000 300000 1000000; do \
	  $(PY) bench/search_latency.py --records $$n --data-dir bench/data/$$n --http \
	    --json bench/results/search_latency.jsonl || exit 1; \
	done
	$(PY) bench/plot_search_latency.py bench/results/search_latency.jsonl bench/results/search-latency.png
	$(PY) bench/locomo.py --if-present  # reads --data or LOCOMO_DIR; says where to get LoCoMo
	$(PY) bench/scenarios/run.py
	$(PY) bench/llm_budget.py
	$(PY) bench/longdoc/run.py --backend heuristic
	$(PY) bench/load.py --clients 32 --duration 60 --phase-s 20 --plot bench/load.png

clean: ## remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) .pytest_cache .ruff_cache
