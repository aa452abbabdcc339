package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/clearway/clearway/customs/errs"
	"github.com/labstack/echo/v4"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail,omitempty"`
	Instance string            `json:"instance,omitempty"`
	Code     string            `json:"code"`
	Errors   []errs.FieldError `json:"errors,omitempty"`
}

var statusOf = map[errs.Kind]int{
	errs.Internal:         http.StatusInternalServerError,
	errs.Invalid:          http.StatusBadRequest,
	errs.Unauthorized:     http.StatusUnauthorized,
	errs.Forbidden:        http.StatusForbidden,
	errs.NotFound:         http.StatusNotFound,
	errs.Conflict:         http.StatusConflict,
	errs.MethodNotAllowed: http.StatusMethodNotAllowed,
	errs.TooLarge:         http.StatusRequestEntityTooLarge,
	errs.Unsupported:      http.StatusUnsupportedMediaType,
	errs.Unprocessable:    http.StatusUnprocessableEntity,
	errs.TooMany:          http.StatusTooManyRequests,
	errs.Unavailable:      http.StatusServiceUnavailable,
}

// problemType is where each code is explained (README, "Errors").
const problemType = "https://clearway.example/problems/"

// errorHandler is the one place an error becomes an HTTP answer.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := errs.As(err)
		var he *echo.HTTPError
		if e == nil && errors.As(err, &he) {
			e = fromEcho(he)
		}
		if e == nil {
			e = &errs.Error{Kind: errs.Internal, Code: "internal", Err: err}
		}
		status := statusOf[e.Kind]
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		if e.Kind == errs.Internal {
			log.Error("internal error", "request_id", reqID, "method", c.Request().Method, "path", c.Path(), "err", err)
			e.Detail = "an internal error occurred; quote request id " + reqID
		} else if e.Err != nil {
			log.Warn("request failed", "request_id", reqID, "code", e.Code, "err", e.Err)
		}
		if e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		body := map[string]any{
			"type": problemType + e.Code, "title": http.StatusText(status), "status": status,
			"code": e.Code, "instance": c.Request().URL.Path,
		}
		if e.Detail != "" {
			body["detail"] = e.Detail
		}
		if len(e.Fields) > 0 {
			body["errors"] = e.Fields
		}
		for k, v := range e.Extra {
			body[k] = v
		}
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(status)
		if c.Request().Method != http.MethodHead {
			_ = c.Echo().JSONSerializer.Serialize(c, body, "")
		}
	}
}

// fromEcho maps Echo's own errors (unknown route, wrong method).
func fromEcho(he *echo.HTTPError) *errs.Error {
	switch he.Code {
	case http.StatusNotFound:
		return errs.New(errs.NotFound, "no_route", "no such endpoint")
	case http.StatusMethodNotAllowed:
		return &errs.Error{Kind: errs.MethodNotAllowed, Code: "method_not_allowed", Detail: "this endpoint does not take that method"}
	case http.StatusRequestEntityTooLarge:
		return errs.New(errs.TooLarge, "body_too_large", "the request body is over the limit")
	case http.StatusUnsupportedMediaType:
		return errs.New(errs.Unsupported, "unsupported_media_type", "send application/json")
	case http.StatusUnauthorized:
		return errs.New(errs.Unauthorized, "unauthorized", "send a valid X-API-Key header")
	}
	if he.Code >= 400 && he.Code < 500 {
		return &errs.Error{Kind: errs.Invalid, Code: "bad_request", Detail: http.StatusText(he.Code)}
	}
	return &errs.Error{Kind: errs.Internal, Code: "internal", Err: he}
}
