// Command harrierctl is the client of the router: it subscribes to the live
// alert stream and manages dead letters.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "harrierctl: not implemented yet")
	os.Exit(1)
}
