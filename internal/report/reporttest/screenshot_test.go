package reporttest

import (
	"flag"
	"testing"

	"github.com/scilifelab/restaurants/internal/testkit/browsertest"
)

// The picture in hack/README.md: `make bench-screenshot` runs this test with
// the page of a real `make bench`, one of its sections and the PNG to write.
var (
	shotPage = flag.String("page", "", "report page to capture (`make bench-screenshot`)")
	shotSel  = flag.String("select", "", "CSS selector of the part of the page to capture")
	shotOut  = flag.String("out", "", "PNG file to write")
)

func TestScreenshot(t *testing.T) {
	if *shotPage == "" || *shotSel == "" || *shotOut == "" {
		t.Skip("give -page, -select and -out to capture a report (make bench-screenshot)")
	}
	b := browsertest.New(t)
	if err := Screenshot(b, *shotPage, *shotSel, *shotOut); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", *shotOut)
}
