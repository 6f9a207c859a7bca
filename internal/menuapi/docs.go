package menuapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"
)

// docsPage is the stand-in's /api/docs and /api/redoc: where the real API
// serves Swagger UI and ReDoc (which load scripts from a CDN), the stand-in
// serves one self-contained page listing the paths of its OpenAPI document,
// with a link to the document itself.
const docsPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;padding:0 1em}code{background:#eee;padding:0 .2em}td{padding:.2em 1em .2em 0;vertical-align:top}</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Description}}</p>
<p>OpenAPI document: <a href="/api/openapi.json"><code>/api/openapi.json</code></a></p>
<table>
{{range .Operations}}<tr><td><code>{{.Method}} {{.Path}}</code></td><td>{{.Summary}}</td></tr>
{{end}}</table>
</body>
</html>
`

// renderDocs builds the docs page from the OpenAPI document.
func renderDocs(spec []byte) ([]byte, error) {
	var doc struct {
		Info struct {
			Title, Description string
		}
		Paths map[string]map[string]struct {
			Summary string
		}
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("reading the OpenAPI document: %w", err)
	}
	type operation struct{ Method, Path, Summary string }
	var ops []operation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops = append(ops, operation{Method: strings.ToUpper(method), Path: path, Summary: op.Summary})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Method, b.Method))
	})
	t, err := template.New("docs").Parse(docsPage)
	if err != nil {
		return nil, fmt.Errorf("docs template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]any{"Title": doc.Info.Title, "Description": doc.Info.Description, "Operations": ops}); err != nil {
		return nil, fmt.Errorf("rendering the docs page: %w", err)
	}
	return b.Bytes(), nil
}
