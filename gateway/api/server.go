// Package api is Clearway's HTTP edge (Echo v4): manifest intake for courier
// firms and status reads for brokers, couriers and the airport desk.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/clearway/clearway/customs"
	"github.com/clearway/clearway/gateway/dashboard"
	"github.com/clearway/clearway/gateway/notify"
	"github.com/clearway/clearway/gateway/store"
	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// Config is the HTTP edge's configuration.
type Config struct {
	Addr           string        // CLEARWAY_HTTP_ADDR
	MaxBodyBytes   int64         // CLEARWAY_MAX_BODY_BYTES: largest manifest body accepted
	PublishTimeout time.Duration // CLEARWAY_PUBLISH_TIMEOUT: how long a manifest may wait for Kafka's ack before 503
	RequestTimeout time.Duration // CLEARWAY_REQUEST_TIMEOUT: how long any request may take
	RateLimit      int           // CLEARWAY_RATE_LIMIT: requests per second per key; 0 for none
	RateBurst      int           // CLEARWAY_RATE_BURST
	Keys           Keys
	Screening      Screening
	// WaybillTenants are the couriers that are the logistics company of
	// their parcels and declare each parcel's CEB505 waybill through
	// Clearway (CLEARWAY_WAYBILL_TENANTS; "*" for all).
	WaybillTenants []string
}

// smallBodyBytes bounds the body of every endpoint other than manifests
// and consolidations; docBodyBytes a consolidation of 50,000 parcels.
const (
	smallBodyBytes = 64 << 10
	docBodyBytes   = 8 << 20
)

// Validate checks the config once at start-up.
func (c *Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("CLEARWAY_HTTP_ADDR: empty")
	case c.MaxBodyBytes < 1<<10:
		return errors.New("CLEARWAY_MAX_BODY_BYTES: must be at least 1024")
	case c.RequestTimeout < time.Second || c.PublishTimeout < 100*time.Millisecond:
		return errors.New("CLEARWAY_REQUEST_TIMEOUT (≥1s) and CLEARWAY_PUBLISH_TIMEOUT (≥100ms) are too short")
	case c.PublishTimeout >= store.ClaimTTL/2:
		return fmt.Errorf("CLEARWAY_PUBLISH_TIMEOUT must be under %v: a parcel's reservation must outlast its publishing", store.ClaimTTL/2)
	case c.RateLimit < 0 || (c.RateLimit > 0 && c.RateBurst < 1):
		return errors.New("CLEARWAY_RATE_LIMIT must be ≥ 0, and CLEARWAY_RATE_BURST ≥ 1 when it is set")
	case len(c.Keys) == 0:
		return errors.New("CLEARWAY_API_KEYS: no keys")
	}
	return nil
}

// Publisher is what the edge needs of Kafka.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Deps are the parts the edge talks to.
type Deps struct {
	Store    *store.Store
	Kafka    Publisher             // declarations, acknowledged by all in-sync replicas
	Audit    Publisher             // the audit trail; nil for none
	Redis    redis.UniversalClient // rate limits and event streams
	Webhooks *notify.Registry
	Ready    func(context.Context) error // whether Kafka and Redis answer
	Registry interface {
		prometheus.Registerer
		prometheus.Gatherer
	}
	Log *slog.Logger
}

// Server is the gateway's HTTP service.
type Server struct {
	cfg      Config
	store    *store.Store
	kafka    Publisher
	auditLog Publisher
	limiter  *redis_rate.Limiter
	redis    redis.UniversalClient
	webhooks *notify.Registry
	ready    func(context.Context) error
	log      *slog.Logger
	echo     *echo.Echo
	metrics  *metrics
}

// New builds the server.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, store: d.Store, kafka: d.Kafka, auditLog: d.Audit, ready: d.Ready, log: d.Log, metrics: newMetrics(d.Registry),
		redis: d.Redis, webhooks: d.Webhooks}
	if d.Redis != nil {
		s.limiter = redis_rate.NewLimiter(d.Redis)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Log)
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(s.observe)
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout,
		Skipper: func(c echo.Context) bool { return c.Path() == "/v1/events" }})) // a stream bounds itself

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))
	dashboard.Register(e) // static; its data comes from /v1 with the signed-in key

	auth := &authenticator{env: cfg.Keys, store: d.Store, cache: map[string]cachedKey{}}
	v1 := e.Group("/v1", s.audit, auth.authenticate, s.rateLimit, authorize)
	v1.POST("/manifests", s.postManifest)
	v1.GET("/manifests/:id", s.getManifest)
	v1.GET("/declarations", s.findDeclarations)
	v1.GET("/declarations/:id", s.getDeclaration)
	v1.GET("/declarations/:id/messages", s.getMessages)
	v1.POST("/webhooks", s.createWebhook)
	v1.GET("/webhooks", s.listWebhooks)
	v1.DELETE("/webhooks/:id", s.deleteWebhook)
	v1.POST("/admin/webhooks/:id/unblock", s.unblockWebhook)
	v1.GET("/events", s.events)
	v1.GET("/admin/blacklist", s.listBlacklist)
	v1.POST("/admin/blacklist", s.addBlacklist)
	v1.DELETE("/admin/blacklist/:id", s.removeBlacklist)
	v1.GET("/stats/green-channel", s.greenChannel)
	v1.GET("/flights", s.flights)
	v1.GET("/flights/:voyageNo/:date", s.flight)
	v1.POST("/arrivals", s.postArrival)
	v1.POST("/consolidations", s.postConsolidation)
	v1.POST("/departures", s.postDeparture)
	v1.POST("/declarations/:id/cancel", s.postCancel)
	v1.POST("/summaries", s.postSummary)
	v1.GET("/documents/:id", s.getDocument)
	s.echo = e
	return s
}

// Routes lists the registered endpoints (tests compare them with openapi.yaml).
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// Handler is the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers on ln until ctx ends, then drains in-flight requests for
// up to grace.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		// A manifest of 10,000 parcels is tens of megabytes: allow for a
		// slow uplink, but never an unbounded one.
		ReadTimeout: 2 * time.Minute, WriteTimeout: s.cfg.RequestTimeout + 10*time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

type metrics struct {
	parcels  *prometheus.CounterVec
	screened *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		parcels:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_gateway_parcels_total", Help: "Parcels posted, by result."}, []string{"result"}),
		screened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_gateway_blacklisted_total", Help: "Parcels refused because they name a blacklisted subject, by kind."}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clearway_http_request_duration_seconds", Help: "HTTP latency by route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.parcels, m.screened, m.latency)
	for _, kind := range customs.BlacklistKinds { // exposed at zero, so rates start from the first scrape
		m.screened.WithLabelValues(kind)
	}
	return m
}

func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.latency.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Observe(time.Since(start).Seconds())
		return nil
	}
}
