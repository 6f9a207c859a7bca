// Package doclinks checks the relative links of the project's Markdown files:
// every link to a file must name one that exists, and every #anchor must name
// a heading (as GitHub derives its anchor) or an explicit <a id> / <a name> of
// the file it points into.
package doclinks

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

var (
	// link matches an inline link or image: [text](target) or ![alt](target),
	// with an optional title after the target.
	link = regexp.MustCompile(`!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// htmlAnchor matches an explicit anchor: <a id="x"> or <a name="x">.
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	// inlineLink matches a link inside a heading, whose text is what counts.
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	// heading matches an ATX heading.
	heading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	// fence matches the opening or closing line of a fenced code block.
	fence = regexp.MustCompile("^\\s{0,3}(```|~~~)")
)

// Slug is the anchor GitHub gives a heading's text: lower case, Markdown
// markup and every character but letters, digits, spaces, hyphens and
// underscores dropped, spaces turned into hyphens.
func Slug(text string) string {
	text = inlineLink.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Anchors lists the anchors of a Markdown text: its headings' slugs (a
// repeated slug gets -1, -2, ... as on GitHub) and its explicit <a> anchors.
// Headings inside fenced code blocks are not headings.
func Anchors(markdown string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(markdown, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			s := Slug(m[2])
			if n := seen[s]; n > 0 {
				anchors[fmt.Sprintf("%s-%d", s, n)] = true
			} else {
				anchors[s] = true
			}
			seen[s]++
		}
	}
	return anchors
}

// Links lists the relative link targets of a Markdown text, outside fenced
// code blocks and inline code: links with a scheme (https:, mailto:) are
// left out.
func Links(markdown string) []string {
	var out []string
	inFence := false
	for _, line := range strings.Split(markdown, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(stripCode(line), -1) {
			if target := m[1]; !hasScheme(target) {
				out = append(out, target)
			}
		}
	}
	return out
}

// stripCode blanks the inline code spans of a line, where brackets are text.
func stripCode(line string) string {
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		if i < len(parts)-1 { // an unclosed backtick is text
			parts[i] = strings.Repeat(" ", len(parts[i]))
		}
	}
	return strings.Join(parts, "`")
}

func hasScheme(target string) bool {
	i := strings.IndexAny(target, ":/#?")
	return i > 0 && target[i] == ':'
}

// Check reads the Markdown file at path (relative to root) and returns one
// error for each relative link that names no existing file, or an anchor
// that the file it points into lacks.
func Check(root, path string) ([]error, error) {
	text, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var errs []error
	for _, target := range Links(string(text)) {
		file, anchor, _ := strings.Cut(target, "#")
		file, _, _ = strings.Cut(file, "?")
		dest := path
		if file != "" {
			dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
		}
		info, err := os.Stat(filepath.Join(root, dest))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: link %q: %s does not exist", path, target, filepath.ToSlash(dest)))
			continue
		}
		if anchor == "" {
			continue
		}
		if info.IsDir() || !strings.EqualFold(filepath.Ext(dest), ".md") {
			errs = append(errs, fmt.Errorf("%s: link %q: an anchor into %s, which is not a Markdown file", path, target, filepath.ToSlash(dest)))
			continue
		}
		destText, err := os.ReadFile(filepath.Join(root, dest))
		if err != nil {
			return errs, fmt.Errorf("reading %s: %w", dest, err)
		}
		if !Anchors(string(destText))[anchor] {
			errs = append(errs, fmt.Errorf("%s: link %q: %s has no heading or anchor %q", path, target, filepath.ToSlash(dest), anchor))
		}
	}
	return errs, nil
}
