package process

import (
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
