// Command go-expfmt measures github.com/prometheus/common/expfmt's TextParser on the inputs
// that `parser-bench dump DIR` wrote, with the same scheme and JSON lines as parser-bench:
//
//	go-expfmt DIR ROUND MS
//
// It builds offline against Debian's packages (GOPATH mode); see ../run.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// sink keeps the counts alive so the compiler cannot drop the parse.
var sink int

// parse returns the number of sample lines kept: buckets and quantiles one by one, plus the
// _sum and _count lines that were present.
func parse(body string) (int, error) {
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	n := 0
	flag := func(present bool) int {
		if present {
			return 1
		}
		return 0
	}
	for _, f := range families {
		for _, m := range f.Metric {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				n += len(h.GetBucket()) + flag(h.SampleSum != nil) + flag(h.SampleCount != nil)
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				n += len(s.GetQuantile()) + flag(s.SampleSum != nil) + flag(s.SampleCount != nil)
			default:
				n++
			}
		}
	}
	return n, nil
}

// measure runs parse for about budget after a warm-up of a quarter of it, timing batches of
// about 1 ms so the clock stays out of it.
func measure(body string, budget time.Duration) (int64, float64) {
	start := time.Now()
	n := int64(0)
	for n == 0 || time.Since(start) < budget/4 {
		c, _ := parse(body)
		sink += c
		n++
	}
	batch := int64(1e-3 / (time.Since(start).Seconds() / float64(n)))
	if batch < 1 {
		batch = 1
	} else if batch > 10000 {
		batch = 10000
	}
	start = time.Now()
	iters := int64(0)
	for {
		for i := int64(0); i < batch; i++ {
			c, _ := parse(body)
			sink += c
		}
		iters += batch
		if secs := time.Since(start).Seconds(); secs >= budget.Seconds() {
			return iters, secs
		}
	}
}

func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: go-expfmt DIR ROUND MS")
		os.Exit(2)
	}
	dir := os.Args[1]
	round, err1 := strconv.Atoi(os.Args[2])
	ms, err2 := strconv.Atoi(os.Args[3])
	manifest, err3 := os.ReadFile(filepath.Join(dir, "manifest"))
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintln(os.Stderr, "go-expfmt: bad arguments or missing manifest")
		os.Exit(2)
	}
	for _, name := range strings.Fields(string(manifest)) {
		raw, err := os.ReadFile(filepath.Join(dir, "prom", name))
		if err != nil {
			fmt.Fprintln(os.Stderr, "go-expfmt:", err)
			os.Exit(1)
		}
		body := string(raw)
		head := fmt.Sprintf(`{"lang":"go","parser":"go-expfmt","input":%s,"bytes":%d,"round":%d`, jsonStr(name), len(body), round)
		samples, err := parse(body)
		if err != nil {
			msg := err.Error()
			if len(msg) > 200 {
				msg = msg[:200]
			}
			fmt.Printf("%s,\"error\":%s}\n", head, jsonStr(msg))
			continue
		}
		iters, secs := measure(body, time.Duration(ms)*time.Millisecond)
		mbS := float64(len(body)) * float64(iters) / secs / 1e6
		ns := "null"
		if samples > 0 {
			ns = fmt.Sprintf("%.2f", secs*1e9/(float64(iters)*float64(samples)))
		}
		fmt.Printf("%s,\"samples\":%d,\"iters\":%d,\"secs\":%.6f,\"mb_s\":%.3f,\"ns_per_sample\":%s}\n",
			head, samples, iters, secs, mbS, ns)
	}
	if sink == -1 {
		fmt.Println()
	}
}
