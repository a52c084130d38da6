# Entry points. `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export ONNXRUNTIME_NODE_INSTALL := skip
export PIP_RETRIES := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# s3rver's paged listing needs the legacy provider on Node >= 17.
export NODE_OPTIONS := --openssl-legacy-provider

VENV := training/.venv
PY := $(VENV)/bin/python
DATA ?= .pinnerformer
DEMO_USERS ?= 20000
DEMO_DAYS ?= 30
DEMO_SEED ?= 7
DEMO_START ?= 2026-10-01

BUNDLE_SOURCES := $(shell find src bin batch-container -name '*.ts' -o -name '*.mjs') package-lock.json

.PHONY: help install node python build lint typecheck vitest vitest-fast pytest synth check test demo model eval ablation ratings-data retail-data write-policy-imported bench reliability mutation clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: node python ## Install Node and Python dependencies when missing

node: node_modules/.installed
# A fresh clone gets `npm ci`; an existing tree is updated in place, without wiping node_modules.
node_modules/.installed: package.json package-lock.json
	if [ -d node_modules ]; then npm install --no-audit --no-fund; else npm ci --no-audit --no-fund; fi
	@touch $@

python: $(VENV)/.installed
$(VENV)/.installed: training/requirements.txt training/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r training/requirements.txt
	$(PY) -m pip install -q --no-deps -e training
	@touch $@

lint: node python ## Biome lint + format check, ruff-free Python compile check
	npx biome check .
	$(PY) -m compileall -q training/pinnerformer training/tests

typecheck: node ## TypeScript strict type check
	npx tsc --noEmit -p tsconfig.json

vitest: node python ## TypeScript tests (dynalite, s3rver, onnxruntime-node)
	npx vitest run

vitest-fast: node python ## The TypeScript suites without the slow end-to-end and reliability ones
	npx vitest run --config vitest.check.config.ts

pytest: python ## Python tests
	cd training && ../$(PY) -m pytest -q

synth: node ## cdk synth, offline
	npx cdk synth --quiet > /dev/null

check: install lint typecheck vitest-fast ## The inner loop: lint, typecheck, the fast TypeScript suites
	@echo "make check passed; make test also runs pytest, the slow suites and cdk synth"

test: install lint typecheck pytest vitest synth ## Every suite: lint, typecheck, pytest, vitest, cdk synth

build: dist/.built ## Bundle the Batch worker, the demo and the CLI into dist/ (esbuild; bin/build.ts)
dist/.built: node_modules/.installed $(BUNDLE_SOURCES)
	node bin/build.js --out dist
	@touch $@

demo: install build ## The daily job on the embedded default: synthetic data, two daily runs, a lookup
	node dist/demo.mjs --data $(DATA) --users $(DEMO_USERS) --days $(DEMO_DAYS) --seed $(DEMO_SEED) --start $(DEMO_START)

model: install ## Train the demo model and write it to models/demo
	$(PY) -m pinnerformer.make_demo_model --out models/demo

eval: install ## Offline evaluation of the demo model (docs/model.md)
	$(PY) -m pinnerformer.evaluate --model models/demo --out reports/eval.json

ablation: install ## Objectives, negatives and baselines: reports/ablation.{md,json,png}
	$(PY) -m pinnerformer.ablation --out reports $(ABLATION_ARGS)

# A MovieLens-format fixture: the ratings world written as ratings.dat, imported as a user would.
RATINGS_DATA := training/runs/ratings-data
ratings-data: install ## MovieLens-format fixture (python -m pinnerformer.ratings_world) imported into training/runs/ratings-data
	mkdir -p training/runs/ratings-source
	$(PY) -m pinnerformer.ratings_world --out training/runs/ratings-source/ratings.dat
	node bin/pinnerformer.js import movielens training/runs/ratings-source/ratings.dat --out $(RATINGS_DATA) --overwrite

# A RetailRocket-format fixture: the retail world written as events.csv, imported as a user would.
RETAIL_DATA := training/runs/retail-data
retail-data: install ## RetailRocket-format fixture (python -m pinnerformer.retail_world) imported into training/runs/retail-data
	mkdir -p training/runs/retail-source
	$(PY) -m pinnerformer.retail_world --out training/runs/retail-source/events.csv
	node bin/pinnerformer.js import events-csv training/runs/retail-source/events.csv --out $(RETAIL_DATA) --overwrite

write-policy-imported: ratings-data ## The write-policy replay on that fixture: reports/write-policy-imported.json (bench section 6)
	$(PY) -m pinnerformer.write_policy --data $(RATINGS_DATA) --eval-end 2001-01-01 --steps 600 --out reports/write-policy-imported.json

bench: install ## Benchmarks: reports/bench.{json,md,png}
	npm run bench

reliability: install ## The reliability suites, writing reports/reliability*.json (RELIABILITY_REPORT=1), then its table
	RELIABILITY_REPORT=1 npx vitest run test/reliability
	node bin/reliability-report.js

mutation: install ## Mutation testing (StrykerJS), module by module: reports/mutation/ (not part of `make test`)
	MUTATION_FLAGS='$(MUTATION_FLAGS)' node bin/mutation.js $(MODULES)

clean: ## Remove local run data
	rm -rf $(DATA) cdk.out dist
