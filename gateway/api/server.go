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

	"github.com/clearway/clearway/gateway/store"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
)

// Config is the HTTP edge's configuration.
type Config struct {
	Addr           string        // CLEARWAY_HTTP_ADDR
	MaxBodyBytes   int64         // CLEARWAY_MAX_BODY_BYTES: largest manifest body accepted
	PublishTimeout time.Duration // how long a manifest may wait for Kafka's ack before 503
	Keys           Keys
}

// Validate checks the config once at start-up.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("CLEARWAY_HTTP_ADDR: empty")
	}
	if c.MaxBodyBytes < 1<<10 {
		return errors.New("CLEARWAY_MAX_BODY_BYTES: must be at least 1024")
	}
	if len(c.Keys) == 0 {
		return errors.New("CLEARWAY_API_KEYS: no keys")
	}
	return nil
}

// Publisher is what the edge needs of Kafka.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Server is the gateway's HTTP service.
type Server struct {
	cfg     Config
	store   *store.Store
	kafka   Publisher
	ready   func(context.Context) error
	log     *slog.Logger
	echo    *echo.Echo
	metrics *metrics
}

// New builds the server; ready reports whether Kafka and Redis answer.
func New(cfg Config, st *store.Store, pub Publisher, ready func(context.Context) error, reg prometheus.Registerer, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, store: st, kafka: pub, ready: ready, log: log, metrics: newMetrics(reg)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(s.observe)

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	if g, ok := reg.(prometheus.Gatherer); ok {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{})))
	}

	v1 := e.Group("/v1", cfg.Keys.authenticate)
	v1.POST("/manifests", s.postManifest, allow("courier", "admin"))
	v1.GET("/manifests/:id", s.getManifest)
	v1.GET("/declarations", s.findDeclarations)
	v1.GET("/declarations/:id", s.getDeclaration)
	v1.GET("/declarations/:id/messages", s.getMessages)
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
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
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
	parcels *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		parcels: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_gateway_parcels_total", Help: "Parcels posted, by result."}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clearway_http_request_duration_seconds", Help: "HTTP latency by route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.parcels, m.latency)
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
