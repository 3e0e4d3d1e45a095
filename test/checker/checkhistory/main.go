// Command checkhistory re-checks histories saved by the reliability tests:
//
//	go run ./test/checker/checkhistory [-ops] history.jsonl...
//
// It prints the report table and every anomaly with its excerpt, and exits 1 if any
// history shows an anomaly. With -ops it also prints every op of the history.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/strata-io/strata/test/checker"
)

func main() {
	ops := flag.Bool("ops", false, "print every op")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: checkhistory [-ops] history.jsonl...")
		os.Exit(2)
	}
	bad := false
	for _, path := range flag.Args() {
		h, err := checker.LoadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if *ops {
			for _, op := range h.Ops() {
				fmt.Println(op)
			}
		}
		r := checker.Check(h)
		r.Scenario = path
		fmt.Print(r.Details())
		bad = bad || !r.OK()
	}
	if bad {
		os.Exit(1)
	}
}
