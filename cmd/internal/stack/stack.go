package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/clearway/clearway/customs/adapter"
	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/sign"
	"github.com/clearway/clearway/customs/sim"
	"github.com/clearway/clearway/gateway/api"
	"github.com/clearway/clearway/gateway/devenv"
	"github.com/clearway/clearway/gateway/notify"
	"github.com/clearway/clearway/gateway/store"
	"github.com/clearway/clearway/gateway/tracker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// Parts says which processes' work this stack runs.
type Parts struct {
	Gateway bool // HTTP edge
	Tracker bool // receipts → Redis
	Adapter bool // Kafka → customs transport → Kafka
}

// All is `clearway dev`: everything in one process.
var All = Parts{Gateway: true, Tracker: true, Adapter: true}

// Stack is a running set of parts.
type Stack struct {
	Config Config
	URL    string // the gateway's base URL, when it runs
	// MetricsURL is where a process without the gateway serves /metrics,
	// /healthz and /readyz.
	MetricsURL string
	Store      *store.Store
	Sim        *sim.Customs // the simulator, when the adapter runs with it
	Redis      redis.UniversalClient
	Producer   *bus.Producer

	lag     *bus.LagWatch // nil when no part consumes
	closers []func() error
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
}

// Embedded starts in-process Kafka-protocol and Redis-protocol servers for
// whatever cfg leaves unset, and returns a function that stops them. Nothing
// they hold survives the process.
func Embedded(cfg *Config) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if len(cfg.Kafka.Brokers) == 0 {
		brokers, stopKafka, err := devenv.StartKafka(cfg.Kafka.Partitions)
		if err != nil {
			return stop, err
		}
		stops = append(stops, stopKafka)
		cfg.Kafka.Brokers = brokers
	}
	if cfg.RedisAddr == "" {
		addr, stopRedis, err := devenv.StartRedis()
		if err != nil {
			return stop, err
		}
		stops = append(stops, stopRedis)
		cfg.RedisAddr = addr
	}
	return stop, nil
}

// Start validates cfg, creates the topics, and starts parts. It returns
// once the gateway listens; Wait blocks until ctx ends and all parts stop.
func Start(ctx context.Context, cfg Config, parts Parts, reg *prometheus.Registry, log *slog.Logger) (*Stack, error) {
	if err := cfg.Validate(parts); err != nil {
		return nil, err
	}
	s := &Stack{Config: cfg}
	ensureCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ensureCtx, cfg.Kafka); err != nil {
		return nil, fmt.Errorf("kafka at %v: %w", cfg.Kafka.Brokers, err)
	}
	if parts.Gateway || parts.Tracker || parts.Adapter { // the adapter keeps its journal there
		s.Redis = cfg.NewRedis()
		s.closers = append(s.closers, s.Redis.Close)
		if err := s.Redis.Ping(ctx).Err(); err != nil {
			s.Close()
			return nil, fmt.Errorf("redis at %s: %w", cfg.RedisAddr, err)
		}
		s.Store = newStore(s.Redis, cfg)
	}
	s.Producer = bus.NewProducer(cfg.Kafka)
	s.closers = append(s.closers, s.Producer.Close)
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg.MustRegister(bus.Collectors()...)
	}

	var watched []bus.Consumption
	if parts.Adapter {
		watched = append(watched, bus.Consumption{Group: adapter.Group, Topic: bus.TopicDeclarations},
			bus.Consumption{Group: adapter.GroupDocuments, Topic: bus.TopicDocuments})
	}
	if parts.Tracker {
		watched = append(watched, bus.Consumption{Group: tracker.GroupDeclarations, Topic: bus.TopicDeclarations},
			bus.Consumption{Group: tracker.GroupReceipts, Topic: bus.TopicReceipts}, bus.Consumption{Group: notify.GroupStatus, Topic: bus.TopicStatus})
	}
	if len(watched) > 0 {
		s.lag = bus.NewLagWatch(cfg.Kafka, log, watched...)
		s.run(func() error { return s.lag.Run(ctx, 5*time.Second) })
	}
	if parts.Adapter {
		alog := log.With("part", "adapter")
		transport, err := s.transport(cfg, alog)
		if err != nil {
			s.Close()
			return nil, err
		}
		if cfg.SignAlg != "none" {
			signer, err := sign.Load(sign.Algorithm(cfg.SignAlg), cfg.SignKey, cfg.SignCert)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("CLEARWAY_SIGN_KEY / CLEARWAY_SIGN_CERT: %w", err)
			}
			cfg.Adapter.Signer = signer
		}
		r := bus.NewReader(cfg.Kafka, bus.TopicDeclarations, adapter.Group)
		dr := bus.NewReader(cfg.Kafka, bus.TopicDocuments, adapter.GroupDocuments)
		s.closers = append(s.closers, r.Close, dr.Close)
		nothingSent := func(ctx context.Context) (bool, error) { // adapters commit only what they sent
			sent, err := bus.EverCommitted(ctx, cfg.Kafka, adapter.Group, bus.TopicDeclarations)
			return !sent, err
		}
		a := adapter.New(cfg.Adapter, transport, adapter.NewJournal(s.Redis, nothingSent), s.Producer, alog)
		s.run(func() error { return a.Run(ctx, r, dr) })
	}
	if parts.Tracker {
		dr := bus.NewReader(cfg.Kafka, bus.TopicDeclarations, tracker.GroupDeclarations)
		rr := bus.NewReader(cfg.Kafka, bus.TopicReceipts, tracker.GroupReceipts)
		s.closers = append(s.closers, dr.Close, rr.Close)
		t := tracker.New(s.Store, s.Producer, log.With("part", "tracker"))
		s.run(func() error { return t.Run(ctx, dr, rr) })
		sr := bus.NewReader(cfg.Kafka, bus.TopicStatus, notify.GroupStatus)
		s.closers = append(s.closers, sr.Close)
		d := notify.NewDispatcher(cfg.Webhooks, notify.NewRegistry(s.Redis), s.Redis, s.Producer, log.With("part", "notify"))
		s.run(func() error { return d.Run(ctx, sr) })
	}
	if !parts.Gateway && cfg.MetricsAddr != "" {
		if err := s.serveMetrics(ctx, cfg, reg); err != nil {
			s.Close()
			return nil, err
		}
	}
	if parts.Gateway {
		glog := log.With("part", "gateway")
		audit := bus.NewAuditProducer(cfg.Kafka, func(err error) { glog.Error("audit trail write failed", "err", err) })
		s.closers = append(s.closers, audit.Close)
		srv := api.New(cfg.HTTP, api.Deps{Store: s.Store, Kafka: s.Producer, Audit: audit, Redis: s.Redis, Webhooks: notify.NewRegistry(s.Redis),
			Ready: s.ready, Registry: reg, Log: glog})
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("CLEARWAY_HTTP_ADDR %s: %w", cfg.HTTP.Addr, err)
		}
		s.URL = "http://" + ln.Addr().String()
		s.run(func() error { return srv.Serve(ctx, ln, cfg.ShutdownGrace) })
	}
	return s, nil
}

// newStore is the status store on rdb, keeping the messages' XML in
// clearway.receipts.v1.
func newStore(rdb redis.UniversalClient, cfg Config) *store.Store {
	archive := bus.NewArchive(cfg.Kafka)
	return store.New(rdb).WithRetention(cfg.Retention).WithArchive(func(ctx context.Context, at store.Position) ([]byte, error) {
		return archive.Receipt(ctx, at.Partition, at.Offset)
	})
}

// transport is the customs transport CLEARWAY_TRANSPORT names: the
// simulator in this process, the http exchange, or the single-window
// client's folders.
func (s *Stack) transport(cfg Config, log *slog.Logger) (adapter.Transport, error) {
	switch cfg.Transport {
	case "http":
		return adapter.NewHTTPTransport(cfg.CustomsURL, log)
	case "dir":
		t, err := adapter.NewDirTransport(cfg.CustomsDir, log)
		if err != nil {
			return nil, fmt.Errorf("CLEARWAY_CUSTOMS_DIR: %w", err)
		}
		return t, nil
	}
	s.Sim = sim.New(cfg.Sim)
	return s.Sim, nil
}

// serveMetrics serves /metrics, /healthz and /readyz for a process
// without the HTTP gateway.
func (s *Stack) serveMetrics(ctx context.Context, cfg Config, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := s.ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	})
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("CLEARWAY_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	s.MetricsURL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.run(func() error {
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

func (s *Stack) run(f func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
	}()
}

// ready reports whether Kafka and Redis answer and this process's
// consumers have caught up since it started.
func (s *Stack) ready(ctx context.Context) error {
	if s.lag != nil && !s.lag.CaughtUp() {
		return fmt.Errorf("consumers are catching up (each within %d messages of the end)", bus.CaughtUpLag)
	}
	if err := s.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", s.Config.Kafka.Brokers[0])
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Brokers(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Wait blocks until every part has stopped (after ctx ended), then closes
// the clients.
func (s *Stack) Wait() error {
	s.wg.Wait()
	return errors.Join(append(s.errs, s.Close())...)
}

// Close closes the clients, newest first.
func (s *Stack) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Rebuild replays Kafka into the configured Redis (see tracker.Rebuild).
func Rebuild(ctx context.Context, cfg Config, log *slog.Logger, progress func(topic string, done, total int64)) error {
	if err := cfg.Kafka.Validate(); err != nil {
		return err
	}
	if cfg.RedisAddr == "" {
		return errors.New("CLEARWAY_REDIS_ADDR: no Redis address")
	}
	rdb := cfg.NewRedis()
	defer rdb.Close()
	p := bus.NewProducer(cfg.Kafka)
	defer p.Close()
	t := tracker.New(newStore(rdb, cfg), p, log).RestoringJournal(adapter.NewJournal(rdb, nil))
	return t.Rebuild(ctx, cfg.Kafka, progress)
}
