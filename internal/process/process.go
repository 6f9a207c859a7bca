// Package process holds the stages an upstream body passes through between
// the fetch and the cache. A stage may check a body, or rewrite it; a stage
// that fails keeps the body out of the cache and the client gets a 502.
// The relay's stage is ValidJSON; a stage of several steps is one Stage
// that calls them in turn.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by a stage's error when the body is not acceptable.
var ErrInvalid = errors.New("invalid upstream body")

// Stage processes the body of an upstream answer with the given status.
type Stage func(ctx context.Context, status int, body []byte) ([]byte, error)

// ValidJSON passes the body through when it is one well-formed JSON value.
func ValidJSON(_ context.Context, _ int, body []byte) ([]byte, error) {
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w: not JSON", ErrInvalid)
	}
	return body, nil
}
