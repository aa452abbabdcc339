package adapter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/clearway/clearway/customs/bus"
)

// HTTPTransport exchanges envelopes with customs over HTTP: it posts each
// envelope to <base>/dxp/messages, and long-polls <base>/dxp/receipts for
// receipt envelopes, acknowledging each (DELETE) only after it was
// delivered, so a receipt is never lost to a crash: an unacknowledged one
// comes again once its lease ends. Resending a message is safe: the
// exchange takes a CopMsgId once, and a resend carries the same one.
type HTTPTransport struct {
	base   *url.URL
	client *http.Client
	log    *slog.Logger
}

// sendAttempts bounds how often Send tries before it reports failure (the
// consumer then retries the whole batch with its own backoff).
const sendAttempts = 4

// NewHTTPTransport talks to the exchange at base (CLEARWAY_CUSTOMS_URL).
func NewHTTPTransport(base string, log *slog.Logger) (*HTTPTransport, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("CLEARWAY_CUSTOMS_URL: %q is not an http(s) URL", base)
	}
	return &HTTPTransport{base: u, client: &http.Client{Timeout: 30 * time.Second}, log: log}, nil
}

func (t *HTTPTransport) endpoint(path string) string { return t.base.JoinPath(path).String() }

// Send posts one envelope, retrying transient failures with backoff.
func (t *HTTPTransport) Send(ctx context.Context, envelope []byte) error {
	var err error
	for attempt := 0; attempt < sendAttempts; attempt++ {
		if attempt > 0 && !bus.Sleep(ctx, bus.Backoff(attempt)) {
			return ctx.Err()
		}
		var status int
		status, err = t.do(ctx, http.MethodPost, t.endpoint("/dxp/messages"), envelope, nil)
		switch {
		case err == nil && status == http.StatusAccepted:
			return nil
		case err == nil && status >= 400 && status < 500:
			return fmt.Errorf("adapter: %w: HTTP %d", ErrRefused, status) // sending it again will not help
		case err == nil:
			err = fmt.Errorf("adapter: customs answered HTTP %d", status)
		}
	}
	return err
}

// Run long-polls receipt envelopes and delivers each until ctx ends.
func (t *HTTPTransport) Run(ctx context.Context, deliver func(context.Context, []byte) error) error {
	failures := 0
	for ctx.Err() == nil {
		if err := t.receiveOne(ctx, deliver); err != nil {
			if ctx.Err() != nil {
				break
			}
			t.log.Warn("receiving from customs failed; retrying", "err", err, "attempt", failures+1)
			bus.Sleep(ctx, bus.Backoff(failures))
			failures++
			continue
		}
		failures = 0
	}
	return nil
}

func (t *HTTPTransport) receiveOne(ctx context.Context, deliver func(context.Context, []byte) error) error {
	var body bytes.Buffer
	var id string
	status, err := t.do(ctx, http.MethodGet, t.endpoint("/dxp/receipts")+"?wait=10s", nil, func(r *http.Response) error {
		id = r.Header.Get("X-Receipt-Id")
		_, err := io.Copy(&body, io.LimitReader(r.Body, 64<<20))
		return err
	})
	switch {
	case err != nil:
		return err
	case status == http.StatusNoContent:
		return nil
	case status != http.StatusOK || id == "":
		return fmt.Errorf("adapter: customs receipts answered HTTP %d", status)
	}
	// Hold on to this envelope until it is delivered: fetching the next one
	// first would publish a parcel's later receipts before its earlier ones.
	for attempt := 0; ; attempt++ {
		err := deliver(ctx, body.Bytes())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return err // not acknowledged: it comes again, to whoever asks
		}
		t.log.Warn("delivering a receipt envelope failed; retrying it", "receipt", id, "attempt", attempt+1, "err", err)
		bus.Sleep(ctx, bus.Backoff(attempt))
	}
	status, err = t.do(ctx, http.MethodDelete, t.endpoint("/dxp/receipts/"+url.PathEscape(id)), nil, nil)
	if err == nil && status != http.StatusNoContent && status != http.StatusNotFound {
		err = fmt.Errorf("adapter: acknowledging receipt %s: HTTP %d", id, status)
	}
	return err // a failed acknowledgement redelivers it; receipts are idempotent downstream
}

// do makes one request; read, when given, consumes a successful body.
func (t *HTTPTransport) do(ctx context.Context, method, url string, body []byte, read func(*http.Response) error) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if read != nil && resp.StatusCode == http.StatusOK {
		if err := read(resp); err != nil {
			return 0, err
		}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}
