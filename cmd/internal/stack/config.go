// Package stack wires Clearway's parts from environment configuration: the
// binaries in cmd/ and the end-to-end tests start the same stack.
package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/customs/adapter"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/ceb"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/api"
	"github.com/clearway/clearway/gateway/notify"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
)

// DevKeys are the API keys `clearway dev` uses when CLEARWAY_API_KEYS is
// unset. They exist only for a laptop; production must set its own.
const DevKeys = "courier:3502680EMS:dev-courier-key,broker:3502980XYZ:dev-broker-key,airport:JJN:dev-airport-key,admin:*:dev-admin-key"

// Config is every setting, each with a default that works on a laptop and
// an environment variable to override it.
type Config struct {
	Kafka        bus.Config
	RedisAddr    string // CLEARWAY_REDIS_ADDR: host:port, or a Redis Cluster's seed nodes, comma-separated
	RedisDB      int    // CLEARWAY_REDIS_DB
	RedisCluster bool   // CLEARWAY_REDIS_CLUSTER: RedisAddr names a Redis Cluster
	HTTP         api.Config
	Adapter      adapter.Config
	Transport    string // CLEARWAY_TRANSPORT: sim (in process), http or dir
	CustomsURL   string // CLEARWAY_CUSTOMS_URL: the exchange the http transport talks to
	CustomsDir   string // CLEARWAY_CUSTOMS_DIR: the folders the dir transport shares with the single-window client
	// Signing: CLEARWAY_SIGN_ALG (sm2-sm3, rsa-sha1, or none), and the PEM
	// key and certificate files (CLEARWAY_SIGN_KEY, CLEARWAY_SIGN_CERT).
	SignAlg, SignKey, SignCert string
	SimAddr                    string // CLEARWAY_SIM_ADDR: where `clearway customs-sim` listens
	Webhooks                   notify.Config
	Retention                  time.Duration // CLEARWAY_RETENTION: how long a finished declaration stays in Redis
	Sim                        sim.Config
	ShutdownGrace              time.Duration // CLEARWAY_SHUTDOWN_GRACE
	LogLevel                   slog.Level    // CLEARWAY_LOG_LEVEL
	// MetricsAddr is where a process without the HTTP gateway (the customs
	// adapter) serves /metrics and /healthz (CLEARWAY_METRICS_ADDR); the
	// gateway serves them on its own address.
	MetricsAddr string
	// PprofAddr, when set, serves Go's CPU and heap profiles
	// (/debug/pprof/) on a listener of its own, never the public one
	// (CLEARWAY_PPROF_ADDR; the benchmark profiles each process by it).
	PprofAddr string
}

// FromEnv reads the configuration. Kafka and Redis addresses may be empty:
// `clearway dev` then starts embedded servers, the other binaries refuse.
func FromEnv() (Config, error) {
	var errs []error
	e := env{errs: &errs}
	keys, err := api.ParseKeys(e.str("CLEARWAY_API_KEYS", DevKeys))
	if err != nil {
		errs = append(errs, err)
	}
	cfg := Config{
		Kafka: bus.Config{
			Brokers:           bus.ParseBrokers(os.Getenv("CLEARWAY_KAFKA_BROKERS")),
			Partitions:        e.int("CLEARWAY_KAFKA_PARTITIONS", 6),
			ReplicationFactor: e.int("CLEARWAY_KAFKA_REPLICATION", 1),
			ClientID:          "clearway",
			TopicPrefix:       os.Getenv("CLEARWAY_KAFKA_TOPIC_PREFIX"),
			Retention:         e.duration("CLEARWAY_KAFKA_RETENTION", 130*24*time.Hour),
		},
		RedisAddr:    os.Getenv("CLEARWAY_REDIS_ADDR"),
		RedisDB:      e.int("CLEARWAY_REDIS_DB", 0),
		RedisCluster: e.bool("CLEARWAY_REDIS_CLUSTER", false),
		PprofAddr:    os.Getenv("CLEARWAY_PPROF_ADDR"),
		HTTP: api.Config{
			Addr:           e.str("CLEARWAY_HTTP_ADDR", "127.0.0.1:8080"),
			MaxBodyBytes:   int64(e.int("CLEARWAY_MAX_BODY_BYTES", 64<<20)),
			PublishTimeout: e.duration("CLEARWAY_PUBLISH_TIMEOUT", 10*time.Second),
			RequestTimeout: e.duration("CLEARWAY_REQUEST_TIMEOUT", 60*time.Second),
			RateLimit:      e.int("CLEARWAY_RATE_LIMIT", 50),
			RateBurst:      e.int("CLEARWAY_RATE_BURST", 100),
			Keys:           keys,
			WaybillTenants: split(e.str("CLEARWAY_WAYBILL_TENANTS", "")),
			Screening: api.Screening{
				RealNameTenants: split(e.str("CLEARWAY_REALNAME_TENANTS", "")),
				HS: customs.HSRules{
					// Arms, ammunition, explosives and fireworks may not leave by
					// express parcel; radioactive and dual-use chemicals need a
					// licence. Illustrative defaults: verify against the
					// current catalogue and set both lists in production.
					Prohibited: split(e.str("CLEARWAY_HS_PROHIBITED", "9301,9302,9303,9304,9305,9306,3601,3602,3603,3604")),
					Licensed:   split(e.str("CLEARWAY_HS_LICENSED", "2844,2845,2812,2853")),
				},
			},
		},
		Adapter: adapter.Config{
			Sender: ceb.Sender{
				CopCode: e.str("CLEARWAY_SENDER_COPCODE", "3502980XYZ"),
				CopName: e.str("CLEARWAY_SENDER_COPNAME", "泉州顺达报关有限公司"),
				DxpID:   e.str("CLEARWAY_SENDER_DXPID", "DXPENT0000012345"),
			},
			ReceiverID: e.str("CLEARWAY_CUSTOMS_RECEIVER", ceb.DefaultReceiverID),
		},
		Transport:  e.str("CLEARWAY_TRANSPORT", "sim"),
		CustomsURL: os.Getenv("CLEARWAY_CUSTOMS_URL"),
		CustomsDir: os.Getenv("CLEARWAY_CUSTOMS_DIR"),
		SignAlg:    e.str("CLEARWAY_SIGN_ALG", "none"),
		SignKey:    os.Getenv("CLEARWAY_SIGN_KEY"),
		SignCert:   os.Getenv("CLEARWAY_SIGN_CERT"),
		SimAddr:    e.str("CLEARWAY_SIM_ADDR", "127.0.0.1:8090"),
		Webhooks: notify.Config{
			BlockAfter: e.duration("CLEARWAY_WEBHOOK_BLOCK_AFTER", 24*time.Hour),
			Timeout:    e.duration("CLEARWAY_WEBHOOK_TIMEOUT", 10*time.Second),
			MaxBackoff: e.duration("CLEARWAY_WEBHOOK_MAX_BACKOFF", 10*time.Minute),
		},
		Retention: e.duration("CLEARWAY_RETENTION", store.DefaultRetention),
		Sim: sim.Config{
			Seed:            uint64(e.int("CLEARWAY_SIM_SEED", 1)),
			InspectionRate:  e.float("CLEARWAY_SIM_INSPECTION_RATE", 0.05),
			RejectionRate:   e.float("CLEARWAY_SIM_REJECTION_RATE", 0.02),
			DetentionRate:   e.float("CLEARWAY_SIM_DETENTION_RATE", 0.005),
			StepDelay:       e.duration("CLEARWAY_SIM_STEP_DELAY", 500*time.Millisecond),
			DuplicateRate:   e.float("CLEARWAY_SIM_DUPLICATE_RATE", 0),
			OutOfOrder:      e.bool("CLEARWAY_SIM_OUT_OF_ORDER", false),
			FormatErrorRate: e.float("CLEARWAY_SIM_FORMAT_ERROR_RATE", 0),
		},
		ShutdownGrace: e.duration("CLEARWAY_SHUTDOWN_GRACE", 10*time.Second),
		MetricsAddr:   e.str("CLEARWAY_METRICS_ADDR", "127.0.0.1:9464"),
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(e.str("CLEARWAY_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("CLEARWAY_LOG_LEVEL: %w", err))
	}
	return cfg, errors.Join(errs...)
}

// Validate checks the configuration parts need, naming the variable at fault.
func (c *Config) Validate(parts Parts) error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.RedisAddr == "" && (parts.Gateway || parts.Tracker || parts.Adapter) {
		errs = append(errs, errors.New("CLEARWAY_REDIS_ADDR: no Redis address"))
	}
	if c.RedisCluster && c.RedisDB != 0 {
		errs = append(errs, errors.New("CLEARWAY_REDIS_DB: a Redis Cluster has only database 0"))
	}
	if !c.RedisCluster && len(split(c.RedisAddr)) > 1 {
		errs = append(errs, errors.New("CLEARWAY_REDIS_ADDR: several addresses name a Redis Cluster; set CLEARWAY_REDIS_CLUSTER=true"))
	}
	if err := c.HTTP.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Transport != "sim" && c.Transport != "http" && c.Transport != "dir":
		errs = append(errs, fmt.Errorf("CLEARWAY_TRANSPORT: %q is not a known transport (sim, http, dir)", c.Transport))
	case c.Transport == "http" && parts.Adapter && c.CustomsURL == "":
		errs = append(errs, errors.New("CLEARWAY_CUSTOMS_URL: the http transport needs the exchange's URL"))
	case c.Transport == "dir" && parts.Adapter && c.CustomsDir == "":
		errs = append(errs, errors.New("CLEARWAY_CUSTOMS_DIR: the dir transport needs the folder it shares with the single-window client"))
	}
	switch {
	case c.SignAlg != "none" && c.SignAlg != "sm2-sm3" && c.SignAlg != "rsa-sha1":
		errs = append(errs, fmt.Errorf("CLEARWAY_SIGN_ALG: %q is not a signature (sm2-sm3, rsa-sha1, none)", c.SignAlg))
	case c.SignAlg != "none" && parts.Adapter && (c.SignKey == "" || c.SignCert == ""):
		errs = append(errs, errors.New("CLEARWAY_SIGN_KEY and CLEARWAY_SIGN_CERT: signing needs the key and certificate files (clearway keys dev-cert makes a test pair)"))
	}
	s := c.Adapter.Sender
	if s.CopCode == "" || len(s.DxpID) == 0 || len(s.DxpID) > 16 {
		errs = append(errs, errors.New("CLEARWAY_SENDER_COPCODE and CLEARWAY_SENDER_DXPID (1 to 16 characters) are required"))
	}
	if c.Kafka.Retention > 0 && c.Kafka.Retention < c.Retention+30*24*time.Hour {
		errs = append(errs, errors.New("CLEARWAY_KAFKA_RETENTION must exceed CLEARWAY_RETENTION by at least 30 days: Redis is rebuilt from Kafka"))
	}
	if r := c.Sim.InspectionRate + c.Sim.RejectionRate + c.Sim.DetentionRate; c.Sim.InspectionRate < 0 || c.Sim.RejectionRate < 0 || c.Sim.DetentionRate < 0 || r > 1 {
		errs = append(errs, errors.New("CLEARWAY_SIM_INSPECTION_RATE, CLEARWAY_SIM_REJECTION_RATE and CLEARWAY_SIM_DETENTION_RATE must be ≥ 0 and add up to at most 1"))
	}
	return errors.Join(errs...)
}

// NewRedis connects to the configured Redis: one server, or a Redis
// Cluster discovered from its seed nodes. Timeouts are short so a request
// fails fast (503, Retry-After) instead of hanging on an absent Redis.
func (c Config) NewRedis() redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{Addrs: split(c.RedisAddr), DB: c.RedisDB, IsClusterMode: c.RedisCluster,
		PoolSize: 32, MaxRetries: 2, DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second})
}

// split reads a comma-separated list.
func split(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// env reads typed variables, collecting every error instead of stopping at
// the first, so one start-up shows all that is wrong.
type env struct{ errs *[]error }

func (e env) str(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (e env) int(name string, def int) int {
	return parseVar(e, name, def, strconv.Atoi, "a whole number")
}

func (e env) bool(name string, def bool) bool {
	return parseVar(e, name, def, strconv.ParseBool, "true or false")
}

func (e env) float(name string, def float64) float64 {
	return parseVar(e, name, def, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, "a number")
}

func (e env) duration(name string, def time.Duration) time.Duration {
	return parseVar(e, name, def, time.ParseDuration, "a duration like 500ms or 10s")
}

// parseVar reads variable name with parse, def when unset; a value that
// does not parse is reported as not being what.
func parseVar[T any](e env, name string, def T, parse func(string) (T, error), what string) T {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		*e.errs = append(*e.errs, fmt.Errorf("%s: %q is not %s", name, v, what))
		return def
	}
	return x
}
