// Package errs is Clearway's one error type. Every layer returns *Error (or
// wraps one); the HTTP edge maps it to an RFC 9457 problem once.
package errs

import (
	"errors"
	"fmt"
)

// Kind says what went wrong in terms a caller can act on; the edge maps each
// kind to one HTTP status.
type Kind int

const (
	Internal         Kind = iota // a bug or an unexpected failure: never shown in detail
	Invalid                      // the input is malformed (400)
	Unauthorized                 // no or unknown credentials (401)
	Forbidden                    // the caller's role may not use this endpoint (403)
	NotFound                     // absent, or not visible to the caller (404)
	Conflict                     // clashes with existing state (409)
	MethodNotAllowed             // the endpoint does not take this method (405)
	TooLarge                     // over a configured size limit (413)
	Unsupported                  // wrong media type (415)
	Unprocessable                // well-formed but no part of it is acceptable (422)
	TooMany                      // over a rate limit (429)
	Unavailable                  // a dependency is down; retry later (503)
)

// FieldError names one bad value by its path in the input, e.g.
// parcels[17].items[0].gcode, with a stable machine code.
type FieldError struct {
	Path    string `json:"path"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is the typed error every package returns.
type Error struct {
	Kind   Kind
	Code   string // stable, machine-readable: "malformed_json", "kafka_unavailable"
	Detail string // for the caller; must not leak internals
	Fields []FieldError
	// RetryAfter, in seconds, for Unavailable and rate limits.
	RetryAfter int
	// Extra members added to the problem body (e.g. per-parcel results).
	Extra map[string]any
	Err   error // the cause, logged but never shown
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an error of kind with a code and a detail for the caller.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsKind reports whether err carries an *Error of kind.
func IsKind(err error, kind Kind) bool {
	e := As(err)
	return e != nil && e.Kind == kind
}
