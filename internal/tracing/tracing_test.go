package tracing

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestOffWithoutAnEndpointStartsNothing(t *testing.T) {
	for _, vars := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
		{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_SERVICE_NAME": "x"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
	} {
		tr, err := FromEnv(context.Background(), "test", env(vars))
		if err != nil {
			t.Fatalf("%v: %v", vars, err)
		}
		if tr.On() || tr.Provider != nil || tr.shutdown != nil {
			t.Errorf("%v: tracing on (%+v), want off with nothing started", vars, tr)
		}
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown off: %v", err)
		}
	}
}

func TestProtocolFollowsTheSpecification(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		want string
		err  bool
	}{
		{map[string]string{}, ProtocolHTTPProtobuf, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ProtocolGRPC, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, ProtocolHTTPProtobuf, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", true},
	} {
		got, err := Protocol(env(c.vars))
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%v: %q, %v; want %q (error %v)", c.vars, got, err, c.want, c.err)
		}
	}
	if !Enabled(env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})) {
		t.Error("a traces endpoint alone does not turn tracing on")
	}
	if _, err := FromEnv(context.Background(), "test", env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
	})); err == nil || !strings.Contains(err.Error(), "http/json") {
		t.Errorf("http/json: %v, want an error naming it", err)
	}
}

func TestPropagatorIsW3C(t *testing.T) {
	got := Propagator().Fields()
	want := map[string]bool{"traceparent": true, "tracestate": true, "baggage": true}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for _, f := range got {
		if !want[f] {
			t.Errorf("field %q, want only %v", f, want)
		}
	}
	carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx := Propagator().Extract(context.Background(), carrier)
	out := propagation.MapCarrier{}
	Propagator().Inject(ctx, out)
	if out["traceparent"] != carrier["traceparent"] {
		t.Errorf("traceparent %q after a round trip, want %q", out["traceparent"], carrier["traceparent"])
	}
}

// received is what a receiver got: the resource's service.name and the
// span names of every export.
type received struct {
	mu       sync.Mutex
	services []string
	spans    []string
}

func (r *received) add(req *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services = append(r.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
			}
		}
	}
}

func (r *received) got() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.services...), append([]string(nil), r.spans...)
}

// setenv sets the process environment the exporter and the resource read,
// and returns the lookup FromEnv is given.
func setenv(t *testing.T, vars map[string]string) func(string) (string, bool) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(name, vars[name])
	}
	return os.LookupEnv
}

// export makes one span through tracing set up from the environment and
// flushes it.
func export(t *testing.T, lookup func(string) (string, bool), wantProto string) {
	t.Helper()
	ctx := context.Background()
	tr, err := FromEnv(ctx, "v1.2.3", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.On() || tr.Protocol != wantProto {
		t.Fatalf("tracing on %v over %q, want on over %s", tr.On(), tr.Protocol, wantProto)
	}
	_, span := tr.Provider.Tracer("test").Start(ctx, "lunch")
	span.End()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
}

func TestOTLPHTTPProtobufExportsToAReceiver(t *testing.T) {
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces of protobuf", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.add(&req)
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	defer srv.Close()

	export(t, setenv(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_SERVICE_NAME":           "lunch-relay",
	}), ProtocolHTTPProtobuf)
	services, spans := got.got()
	if len(spans) != 1 || spans[0] != "lunch" {
		t.Errorf("receiver got spans %q, want [lunch]", spans)
	}
	if len(services) != 1 || services[0] != "lunch-relay" {
		t.Errorf("service.name %q, want OTEL_SERVICE_NAME's lunch-relay", services)
	}
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	got *received
}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.got.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestOTLPGRPCExportsToAReceiver(t *testing.T) {
	var got received
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, traceService{got: &got})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	export(t, setenv(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + ln.Addr().String(),
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
	}), ProtocolGRPC)
	services, spans := got.got()
	if len(spans) != 1 || spans[0] != "lunch" {
		t.Errorf("receiver got spans %q, want [lunch]", spans)
	}
	if len(services) != 1 || services[0] != DefaultServiceName {
		t.Errorf("service.name %q, want the default %s", services, DefaultServiceName)
	}
}
