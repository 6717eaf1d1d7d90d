// Command check answers, one JSON line for each JSON line it reads, how Go parses a command
// line with spf13/pflag (Debian's golang-github-spf13-pflag-dev) and how text/tabwriter lays
// out text with rkt's settings: the reference for Rocket's rkt.cli.flags and rkt.cli.tabwriter
// (tests/unit/test_cli_go_reference.py).
//
// A parse request: {"flags": [{"name", "kind": "bool"|"string"|"list"|"slice", "default",
// "noopt", "shorthand"}], "interspersed": bool, "args": [...]}; the answer: {"ok", "values"
// (name -> string or list), "changed" (names), "args"}. A layout request: {"tabwrite": text};
// the answer: {"text": ...}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/ioutil"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

type flagSpec struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Default   string `json:"default"`
	NoOpt     string `json:"noopt"`
	Shorthand string `json:"shorthand"`
}

type request struct {
	Flags        []flagSpec `json:"flags"`
	Interspersed bool       `json:"interspersed"`
	Args         []string   `json:"args"`
	Tabwrite     *string    `json:"tabwrite"`
}

type answer struct {
	OK      bool                   `json:"ok"`
	Values  map[string]interface{} `json:"values,omitempty"`
	Changed []string               `json:"changed,omitempty"`
	Args    []string               `json:"args,omitempty"`
	Text    *string                `json:"text,omitempty"`
}

// stringList is rkt's flagStringList: every value kept whole.
type stringList []string

func (l *stringList) String() string     { return "" }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
func (l *stringList) Type() string       { return "stringList" }

func parse(r request) answer {
	set := pflag.NewFlagSet("check", pflag.ContinueOnError)
	set.SetOutput(ioutil.Discard)
	set.SetInterspersed(r.Interspersed)
	getters := map[string]func() interface{}{}
	for _, spec := range r.Flags {
		spec := spec
		switch spec.Kind {
		case "bool":
			value := set.BoolP(spec.Name, spec.Shorthand, spec.Default == "true", "")
			getters[spec.Name] = func() interface{} { return *value }
		case "string":
			value := set.StringP(spec.Name, spec.Shorthand, spec.Default, "")
			getters[spec.Name] = func() interface{} { return *value }
		case "slice":
			value := set.StringSliceP(spec.Name, spec.Shorthand, []string{}, "")
			getters[spec.Name] = func() interface{} { return *value }
		case "list":
			value := &stringList{}
			set.VarP(value, spec.Name, spec.Shorthand, "")
			getters[spec.Name] = func() interface{} { return []string(*value) }
		}
		if spec.NoOpt != "" {
			set.Lookup(spec.Name).NoOptDefVal = spec.NoOpt
		}
	}
	if err := set.Parse(r.Args); err != nil {
		return answer{OK: false}
	}
	out := answer{OK: true, Values: map[string]interface{}{}, Args: set.Args()}
	for name, get := range getters {
		out.Values[name] = get()
	}
	set.Visit(func(f *pflag.Flag) { out.Changed = append(out.Changed, f.Name) })
	return out
}

func layout(text string) answer {
	var buffer bytes.Buffer
	writer := tabwriter.NewWriter(&buffer, 0, 8, 1, '\t', 0)
	writer.Write([]byte(text))
	writer.Flush()
	result := buffer.String()
	return answer{OK: true, Text: &result}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			os.Exit(2)
		}
		if r.Tabwrite != nil {
			out.Encode(layout(*r.Tabwrite))
		} else {
			out.Encode(parse(r))
		}
	}
}
