// Command herald compiles, checks and runs campaigns written as code.
package main

import (
	"os"

	"github.com/heraldhq/herald/cmd/herald/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
