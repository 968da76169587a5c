# newsbeam: `make run` runs the demo ingest, `make test` runs the test suite.
# Everything installs itself into .venv from pinned versions on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUTPUT ?= out/run
FEEDS  ?=
# Prism, Beam's portable local runner (the streaming runner of `newsbeam
# stream`): newsbeam's own build of its job server, tools/prism, whose go.mod
# pins the Beam Go SDK to the Python SDK's version and whose go.sum verifies
# every module.  The checksum database does not list that Beam version here,
# so GONOSUMDB keeps the go command from asking it (go.sum has its hash).
# The build needs the Go module proxy, nothing else.
PRISM  := $(VENV)/bin/newsbeam-prism
PRISM_SOURCES := tools/prism/main.go tools/prism/go.mod tools/prism/go.sum
# A local Flink session cluster (tools/flink/cluster.py): `make flink` downloads
# Flink 1.19.3 from PyPI and Beam's Flink job server jars from Maven Central
# into .flink/ (once; needs Java 17 and Maven); flink-up starts it on
# 127.0.0.1, flink-down stops exactly what flink-up started.  test-flink and
# bench-flink start their own cluster in a loopback-only network namespace
# (unshare -n, root) and tear it down whatever happens.
FLINK := $(PY) tools/flink/cluster.py

.PHONY: help install prism run test lint bench eval clean flink flink-up flink-down \
        flink-status test-flink bench-flink line-model

help:
	@echo "make run               ingest the built-in demo news site (out/demo)"
	@echo "make run FEEDS=path    ingest your own feed list into OUTPUT (default $(OUTPUT))"
	@echo "make prism             build Prism, the streaming runner of newsbeam stream"
	@echo "make test              run the test suite"
	@echo "make lint              ruff"
	@echo "make bench / make eval benchmarks / extraction and story quality on ../shared/corpora"
	@echo "make line-model        retrain the line model on the tune part of ../shared/corpora"
	@echo "make flink-up / flink-down   a local Flink session cluster (see README, Run on a cluster)"
	@echo "make test-flink        the Flink suite, on its own cluster in a loopback-only namespace"
	@echo "make bench-flink       newsbeam on Flink (parallelism 2) against the DirectRunner"

$(STAMP): setup.py constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "newsbeam needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

$(PRISM): $(PRISM_SOURCES) | $(STAMP)
	cd tools/prism && GONOSUMDB=github.com/apache/beam/sdks/v2 \
	  GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o $(CURDIR)/$(PRISM) .

prism: $(PRISM)

run: $(STAMP)
ifeq ($(strip $(FEEDS)),)
	PYTHONPATH=. $(PY) -m devsite.demo --output out/demo
else
	$(VENV)/bin/newsbeam ingest --feeds "$(FEEDS)" --output "$(OUTPUT)"
endif

test: $(STAMP) $(PRISM)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP) $(PRISM)
	PYTHONPATH=. $(PY) -m bench.language
	PYTHONPATH=. $(PY) -m bench.suite
	PYTHONPATH=. $(PY) -m bench.memory
	PYTHONPATH=. $(PY) -m bench.soak
	$(MAKE) bench-flink


eval: $(STAMP)
	PYTHONPATH=. $(PY) -m bench.quality
	PYTHONPATH=. $(PY) -m bench.stories

# Retrain the clean stage's line model on the tune part of ../shared/corpora.
line-model: $(STAMP)
	PYTHONPATH=. $(PY) -m bench.train_line_model

flink: $(STAMP)
	$(FLINK) fetch

flink-up: flink
	$(FLINK) up

# Works without the virtualenv too: stopping needs only the standard library.
flink-down:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) tools/flink/cluster.py down

flink-status:
	$(FLINK) status

test-flink: flink
	$(FLINK) test

bench-flink: flink
	PYTHONPATH=. $(FLINK) isolated -- $(PY) -m bench.flink



clean:
	rm -rf out .pytest_cache .ruff_cache build *.egg-info .bench-venv $(PRISM)
	@echo "(.flink/, the Flink downloads, stays: make flink-down, then rm -rf .flink)"
