# Strata build, run and test entry points. `make test` is what CI runs (.ci/run).

GO           ?= go
PWD          := $(shell pwd)
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
TEST_TIMEOUT ?= 15m
# Packages with concurrency get -race; everything else runs without it (faster).
RACE_PKGS    := ./admin/... ./cluster/... ./broker/... ./partition/... ./security/... ./segment/... ./tiering/... ./cache/... ./cmd/...
FUZZTIME     ?= 60s
FUZZTIME_SHORT ?= 5s
BENCH_FLAGS  ?= --embedded --compare-kfake --mib 256 --record-size 1024 --partitions 3 --rounds 3
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run docs test vet unit race fuzz-short fuzz shell-test bench bench-cli bench-go soak clean tools kcat chromium jvm-tools pypi-clients compat-jvm compat-table

all: build

build:
	$(GO) build -o bin/strata ./cmd/strata

# Regenerate README.md's configuration reference from the code.
docs:
	$(GO) run ./cmd/strata config-keys --update-readme README.md

# Start a broker on 127.0.0.1:9092 with its data (and the fs tier store, ./data/tier) in ./data.
# `make run PORT=9093 DATA=./data2 ADMIN=127.0.0.1:9645` starts another one; only values given on
# the make command line count (a PORT in the environment does not move `make run`).
RUN_PORT  = $(if $(filter command line,$(origin PORT)),$(PORT),9092)
RUN_DATA  = $(if $(filter command line,$(origin DATA)),$(DATA),./data)
RUN_ADMIN = $(if $(filter command line,$(origin ADMIN)),--admin-addr $(ADMIN))
run: build
	mkdir -p $(RUN_DATA)
	./bin/strata serve --listeners PLAINTEXT://127.0.0.1:$(RUN_PORT) --log-dirs $(RUN_DATA) --set strata.tier.store=fs $(RUN_ADMIN)

# --- tests -------------------------------------------------------------------------------

# Fuzz targets run their seed corpora as plain tests in unit/race; real fuzzing (even a few
# seconds of it) lives in `make fuzz-short` / `make fuzz`, outside CI: a timed fuzz run can end
# in "context deadline exceeded" through no fault of the code under test.
test: tools vet unit race

tools: kcat chromium bin/minio compat-clients jvm-tools pypi-clients

kcat:
	@command -v kcat >/dev/null 2>&1 || { \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y kcat || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y kcat; }; }

# Headless Chromium for the console test (admin/console_test.go).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; }

# Client libraries for test/compat: librdkafka via confluent-kafka-python, kafka-python with
# its codecs (Debian packages for the system python3), kafkajs from npm (git-ignored node_modules).
COMPAT_APT := python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard
compat-clients:
	@/usr/bin/python3 -c 'import confluent_kafka, kafka, snappy, lz4.frame, zstandard' >/dev/null 2>&1 || { \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(COMPAT_APT) || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(COMPAT_APT); }; }
	@test -f test/compat/js/node_modules/kafkajs/package.json || (cd test/compat/js && npm ci --no-audit --no-fund)

bin/minio:
	GOBIN=$(PWD)/bin $(GO) install $(MINIO_MODULE)

# Apache Kafka's tools and Java client (test/jvm): the jars pinned in test/java/pom.xml come
# from Maven Central into the git-ignored test/java/lib; test/java/kafka-run-class runs them.
JVM_SRC := $(shell find test/java/src -name '*.java' 2>/dev/null)
jvm-tools: test/java/target/strata-jvm-tests.jar
	@test -f test/java/lib/kafka-clients-$$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' test/java/pom.xml).jar || \
		(cd test/java && mvn -B -q package)

test/java/target/strata-jvm-tests.jar: test/java/pom.xml $(JVM_SRC)
	cd test/java && mvn -B -q package

# The Python clients from PyPI (test/compat/pypi_test.go), pinned, in a git-ignored venv.
PYPI_VENV := test/compat/py/.venv
pypi-clients: $(PYPI_VENV)/.installed

$(PYPI_VENV)/.installed: test/compat/py/requirements-pypi.txt
	python3 -m venv $(PYPI_VENV)
	$(PYPI_VENV)/bin/pip install -q -r test/compat/py/requirements-pypi.txt
	touch $@

# The reference runs: the tool journey and the Java client scenarios of test/jvm against
# Apache Kafka itself (a single-node KRaft broker from the same jars), proving that every
# expected output the Strata tests check is Kafka's own. CI runs it after `make test`.
compat-jvm: jvm-tools
	STRATA_KAFKA_REFERENCE=1 $(GO) test -count=1 -timeout 15m -run 'Reference' ./test/jvm/

# Runs every client compatibility test (test/jvm with the Kafka reference, test/compat) and
# regenerates README.md's compatibility table from the results (test/artifacts/compat.json).
compat-table: tools
	@mkdir -p test/artifacts
	STRATA_KAFKA_REFERENCE=1 $(GO) test -count=1 -json -timeout 20m ./test/jvm/ ./test/compat/ > test/artifacts/compat.json; rc=$$?; \
		$(GO) run ./test/compattable --json test/artifacts/compat.json --readme README.md && exit $$rc

vet:
	$(GO) vet ./...

# Packages without -race (includes test/shell: the kcat quickstart against bin/strata).
unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v -E '/(admin|broker|cluster|partition|security|segment|tiering|cache|cmd)(/|$$)')

race:
	$(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

# Every Fuzz target for a few seconds (the seed corpora run as plain tests in `make test`).
# Minimization is off for these short runs: minimizing a new input can outlast a 5 s
# -fuzztime, which go test reports as "context deadline exceeded".
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT) FUZZFLAGS=-fuzzminimizetime=0

fuzz:
	@rc=0; for f in $$(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' --exclude-dir=.git --exclude-dir=bin .); do \
		for target in $$(grep -oE '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
			echo "fuzz $$(dirname $$f) $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./$$(dirname $$f) || rc=1; \
		done; \
	done; exit $$rc

# Only the README walk-throughs: the kcat quickstart (test/shell/quickstart.sh via its Go test)
# and the tiering section against MinIO.
shell-test: kcat bin/minio
	$(GO) test -count=1 -v -run 'TestQuickstart|TestReadmeTiering' ./test/shell/

# Side by side in one run (issues 7, 21): machine limits, kfake, NATS JetStream, Apache Kafka
# (its jars from jvm-tools, a KRaft node with -Xmx1G -Xms1G; Kafka's perf tools run against it
# and Strata) and Strata (a child broker tiering to a local MinIO). Table and JSON lines on
# stdout and in test/artifacts/bench/, broker CPU/alloc profiles of every phase in
# test/artifacts/bench/pprof/.
NATS_MODULE      := github.com/nats-io/nats-server/v2@v2.15.2
STRATA_BENCH_FLAGS ?=
bench: bin/minio bin/nats-server jvm-tools
	$(GO) build -o bin/strata-bench ./cmd/strata-bench
	./bin/strata-bench $(STRATA_BENCH_FLAGS)

bin/nats-server:
	GOBIN=$(PWD)/bin $(GO) install $(NATS_MODULE)

# `strata bench`: the CLI's own produce/consume benchmark against an in-process broker and kfake.
bench-cli: build
	./bin/strata bench $(BENCH_FLAGS)

# The packages' Go benchmarks (partition append/read, stores, caches ...).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Long-running tests; packages opt in by checking STRATA_SOAK. The full log goes to
# test/artifacts/soak.log; at the end the table of every checker scenario (rows in the
# format of checker.Report.String, from test/ and test/reliability) and the package results
# are printed.
soak: tools
	@mkdir -p test/artifacts
	@echo "soak: STRATA_SOAK=1 go test -v ./... > test/artifacts/soak.log (takes a while)"
	@STRATA_SOAK=1 $(GO) test -count=1 -v -timeout 2h ./... > test/artifacts/soak.log 2>&1; rc=$$?; \
		echo; echo "reliability scenarios:"; \
		grep -E '^[[:space:]]*\|[ -]' test/artifacts/soak.log | sed -E 's/^[[:space:]]+//' | awk '!seen[$$0]++'; \
		echo; grep -E '^(ok|FAIL|--- FAIL)' test/artifacts/soak.log; \
		echo "full log: test/artifacts/soak.log"; exit $$rc

clean:
	rm -rf bin/strata data test/artifacts
	$(GO) clean -testcache
