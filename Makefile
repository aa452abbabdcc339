# Clearway. `make run` and `make test` work on a bare machine (Go only):
# without CLEARWAY_KAFKA_BROKERS / CLEARWAY_REDIS_ADDR they use in-process
# Kafka-protocol and Redis-protocol servers.

GO ?= go
PKGS := ./...
CEB_XSD := schemas/ceb/ceb-export-202205.xsd
# CEB900 (the format-check receipt) is in the import schema only
CEB_IMPORT_XSD := schemas/ceb/ceb-import-202205.xsd
DXP_XSD := schemas/ceb/dxp-terminal-202205.xsd

.PHONY: run test lint xsd fuzz chaos bench services-up services-down build

## run: gateway, tracker, customs adapter and simulator in one process
run:
	$(GO) run ./cmd/clearway dev

## test: every test; integration tests use real Kafka/Redis when configured
test:
	$(GO) test -count=1 -race -timeout 20m $(PKGS)

## lint: gofmt, go vet, and go.mod tidiness
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff

## xsd: validate the golden CEB files against the official 202205 XSDs
xsd:
	xmllint --noout --schema $(CEB_XSD) customs/ceb/testdata/golden/CEB*.xml
	xmllint --noout --schema $(CEB_IMPORT_XSD) customs/ceb/testdata/golden/import/CEB*.xml
	xmllint --noout --schema $(DXP_XSD) customs/ceb/testdata/golden/DxpMsg-*.xml

## fuzz: each fuzz target for FUZZTIME (the manifest decoder and rules, the receipt and document parsers, the envelope decoder, the signature check)
# The official CEB samples seeding the receipt and document parsers are 5-17 KB:
# minimising one for the default minute would eat a short FUZZTIME.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDeclare$$' -fuzztime=$(FUZZTIME) ./customs
	$(GO) test -run='^$$' -fuzz='^FuzzParseCEB604$$' -fuzztime=$(FUZZTIME) ./customs/ceb
	$(GO) test -run='^$$' -fuzz='^FuzzParseReturns$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./customs/ceb
	$(GO) test -run='^$$' -fuzz='^FuzzParseDocuments$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./customs/ceb
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEnvelope$$' -fuzztime=$(FUZZTIME) ./customs/ceb
	$(GO) test -run='^$$' -fuzz='^FuzzParseSheet$$' -fuzztime=$(FUZZTIME) ./customs/sheet
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./customs/sign

## chaos: the fault suite, and two of every process with one of each killed, on their own real Kafka and Redis (needs redis-server, a JDK and mvn);
## CHAOS=bounded runs each fault once (CI), full adds every fault again in a seeded random order
CHAOS ?= full
chaos:
	CLEARWAY_CHAOS=$(CHAOS) $(GO) test -count=1 -v -timeout 60m ./cmd/internal/chaos

## bench: throughput, latency and cost on real Kafka and Redis (its own, unless CLEARWAY_KAFKA_BROKERS and CLEARWAY_REDIS_ADDR
## name them); BENCH=short runs each phase for a second or two (CI). Report, logs and CPU profiles in artifacts/bench
BENCH ?= full
bench:
	deployments/local/bench.sh $(BENCH) $(BENCH_FLAGS)

## build: the three binaries into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## services-up: a real Redis, a Redis Cluster of three masters and a real Apache Kafka broker on 127.0.0.1
services-up:
	deployments/local/redis.sh start
	deployments/local/redis-cluster.sh start
	deployments/local/kafka.sh start
	@echo 'export CLEARWAY_KAFKA_BROKERS=127.0.0.1:9092 CLEARWAY_REDIS_ADDR=127.0.0.1:6379 CLEARWAY_REDIS_CLUSTER_ADDR=127.0.0.1:7001'

services-down:
	deployments/local/kafka.sh stop
	deployments/local/redis-cluster.sh stop
	deployments/local/redis.sh stop
