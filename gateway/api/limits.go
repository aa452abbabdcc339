package api

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/customs/errs"
	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"
	"github.com/segmentio/kafka-go"
)

// rateLimit allows each key Limit requests a second (with a burst), counted
// in Redis so that every gateway instance shares one budget per key. If
// Redis cannot answer, the request goes through: limits protect capacity,
// and refusing all traffic because the limiter is down would be worse.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limiter == nil || s.cfg.RateLimit <= 0 {
			return next(c)
		}
		sc := scopeOf(c)
		limit := redis_rate.Limit{Rate: s.cfg.RateLimit, Burst: s.cfg.RateBurst, Period: time.Second}
		res, err := s.limiter.Allow(c.Request().Context(), "rl:"+sc.KeyID, limit)
		if err != nil {
			s.log.Warn("rate limiter unavailable; request allowed", "err", err)
			return next(c)
		}
		if res.Allowed == 0 {
			return &errs.Error{Kind: errs.TooMany, Code: "rate_limited", RetryAfter: int(math.Ceil(res.RetryAfter.Seconds())),
				Detail: "this key is over its limit of requests per second; retry after the given seconds"}
		}
		return next(c)
	}
}

// AuditEvent is one line of the audit trail on clearway.audit.v1.
type AuditEvent struct {
	At         time.Time `json:"at"`
	RequestID  string    `json:"requestId"`
	KeyID      string    `json:"keyId,omitempty"`
	Role       string    `json:"role,omitempty"`
	Tenant     string    `json:"tenant,omitempty"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	RemoteAddr string    `json:"remoteAddr"`
	DurationMS float64   `json:"durationMs"`
}

// audit records who did what, when and from where, for every /v1 request,
// including refused ones. Events are written asynchronously in batches so
// the audit trail never slows or fails a request; a write that fails is
// logged.
func (s *Server) audit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if s.auditLog == nil {
			return nil
		}
		sc := scopeOf(c)
		e := AuditEvent{At: start.UTC(), RequestID: c.Response().Header().Get(echo.HeaderXRequestID), KeyID: sc.KeyID, Role: sc.Role, Tenant: sc.Tenant,
			Method: c.Request().Method, Route: c.Path(), Path: c.Request().URL.Path, Status: c.Response().Status, RemoteAddr: c.RealIP(),
			DurationMS: float64(time.Since(start).Microseconds()) / 1000}
		b, _ := json.Marshal(e)
		if werr := s.auditLog.WriteMessages(context.WithoutCancel(c.Request().Context()), kafka.Message{Topic: bus.TopicAudit, Key: []byte(sc.KeyID), Value: b}); werr != nil {
			s.log.Error("audit write failed", "request_id", e.RequestID, "err", werr)
		}
		return nil
	}
}
