package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/clearway/clearway/customs/errs"
	"github.com/clearway/clearway/gateway/notify"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
)

type webhookRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

func (s *Server) createWebhook(c echo.Context) error {
	var req webhookRequest
	if err := decodeJSON(c, smallBodyBytes, &req); err != nil {
		return err
	}
	sub, err := s.webhooks.Create(c.Request().Context(), scopeOf(c), req.URL, req.Secret)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, sub)
}

func (s *Server) listWebhooks(c echo.Context) error {
	subs, err := s.webhooks.List(c.Request().Context(), scopeOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": subs})
}

func (s *Server) deleteWebhook(c echo.Context) error {
	if err := s.webhooks.Delete(c.Request().Context(), scopeOf(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) unblockWebhook(c echo.Context) error {
	if err := s.webhooks.Unblock(c.Request().Context(), scopeOf(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// validStreamID: an id as Redis Streams write them, two 64-bit numbers.
func validStreamID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || !streamID.MatchString(id) {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// maxStream bounds one Server-Sent Events connection; clients reconnect
// with Last-Event-ID and lose nothing.
const maxStream = time.Hour

// events streams the caller's status changes as Server-Sent Events. Each
// event's id is its position in the scope's stream; a client that
// reconnects with Last-Event-ID resumes right after it.
func (s *Server) events(c echo.Context) error {
	sc := scopeOf(c)
	var last string
	for name, vs := range map[string][]string{"Last-Event-ID": c.Request().Header.Values("Last-Event-ID"), "lastEventId": c.QueryParams()["lastEventId"]} {
		for _, v := range vs {
			if !validStreamID(v) {
				return badQuery(name, "an id this stream sent")
			}
			last = v
		}
	}
	if h := c.Request().Header.Get("Last-Event-ID"); h != "" {
		last = h // the header, which browsers send on reconnecting, wins
	}
	ctx := c.Request().Context()
	key := notify.StreamKey(sc)
	if last == "" { // from now on: the newest id so far, so nothing slips between reads
		last = "0-0"
		if newest, err := s.redis.XRevRangeN(ctx, key, "+", "-", 1).Result(); err != nil {
			return &errs.Error{Kind: errs.Unavailable, Code: "redis_unavailable", RetryAfter: 2, Err: err}
		} else if len(newest) == 1 {
			last = newest[0].ID
		}
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w.Writer)
	fmt.Fprint(w, ": connected\n\n")
	rc.Flush()
	deadline := time.Now().Add(maxStream)
	quietSince := time.Now()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		// Short blocking reads: a blocked Redis read does not notice a
		// client that left, so each read is bounded to notice within 2 s.
		res, err := s.redis.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Count: 500, Block: 2 * time.Second}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if time.Since(quietSince) < 15*time.Second {
				continue
			}
			quietSince = time.Now()
			fmt.Fprint(w, ": keep-alive\n\n")
		case err != nil:
			if ctx.Err() == nil {
				fmt.Fprint(w, "event: error\ndata: {\"code\":\"redis_unavailable\"}\n\n")
				rc.Flush()
			}
			return nil
		default:
			for _, m := range res[0].Messages {
				data, _ := m.Values["event"].(string)
				if !json.Valid([]byte(data)) {
					continue
				}
				fmt.Fprintf(w, "id: %s\nevent: status\ndata: %s\n\n", m.ID, data)
				last = m.ID
			}
			quietSince = time.Now()
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
	return nil
}
