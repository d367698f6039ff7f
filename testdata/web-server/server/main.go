// Command web-server is the example service of mkportable's README: an HTTP
// server on :3031 that answers with the PORTABLE environment variable,
// which systemd-portabled sets to the image's file name
// (e.g. PORTABLE=web-server_20220227.raw), so a request shows which image
// is attached.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

// answerPrefix starts every answer. `make example ANSWER_PREFIX=...` sets
// it at link time (-X main.answerPrefix=...), so a rebuilt image answers
// differently, as the upgrade test needs.
var answerPrefix = "PORTABLE="

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s%s\n", answerPrefix, os.Getenv("PORTABLE"))
	})
	log.Fatal(http.ListenAndServe(":3031", nil))
}
