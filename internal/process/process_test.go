package process

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestValidJSON(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"restaurants": []}`, true},
		{`{"detail": "Restaurant not found"}`, true},
		{`[1, 2]`, true},
		{``, false},
		{`<html>busy</html>`, false},
		{`{"restaurants": [`, false},
		{`{"a": 1} {"b": 2}`, false},
	} {
		_, err := ValidJSON(context.Background(), 200, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("ValidJSON(%q) = %v, want ok=%v", tc.body, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidJSON(%q) error %v does not wrap ErrInvalid", tc.body, err)
		}
	}
}

func TestChainRunsInOrderAndStopsAtFailure(t *testing.T) {
	var ran []string
	stage := func(name string, fail bool) Stage {
		return func(_ context.Context, _ int, body []byte) ([]byte, error) {
			ran = append(ran, name)
			if fail {
				return nil, ErrInvalid
			}
			return append(body, name...), nil
		}
	}
	out, err := Chain(stage("a", false), stage("b", false))(context.Background(), 200, []byte(">"))
	if err != nil || string(out) != ">ab" {
		t.Fatalf("Chain = %q, %v; want \">ab\"", out, err)
	}
	ran = nil
	if _, err := Chain(stage("a", true), stage("b", false))(context.Background(), 200, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if len(ran) != 1 {
		t.Fatalf("stages after a failure ran: %v", ran)
	}
}

func TestEmptyChainIsIdentity(t *testing.T) {
	in := []byte(`{"x":1}`)
	out, err := Chain()(context.Background(), 200, in)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("Chain() = %q, %v", out, err)
	}
}
