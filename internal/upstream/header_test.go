package upstream

import (
	"net/http"
	"reflect"
	"testing"
)

func TestHeaderEncodingRoundTrip(t *testing.T) {
	h := http.Header{
		"Etag":          {`W/"abc"`},
		"Cache-Control": {"max-age=60", "stale-if-error=300"},
		"X-Bad":         {"a\r\nInjected: 1"},
	}
	s := EncodeHeader(h)
	if want := "Cache-Control: max-age=60\nCache-Control: stale-if-error=300\nEtag: W/\"abc\"\n"; s != want {
		t.Fatalf("EncodeHeader = %q, want %q (sorted, CR/LF values left out)", s, want)
	}
	got := DecodeHeader(s + "no separator\n")
	delete(h, "X-Bad")
	if !reflect.DeepEqual(got, h) {
		t.Errorf("DecodeHeader = %v, want %v", got, h)
	}
}
