// echo.go — the Go line of the echo benchmark: a goroutine-per-connection TCP echo server
// written the ordinary way (blocking-style Read/Write on net.Conn, the Go runtime's netpoll
// underneath). Same command line and conventions as tests/fixtures/echo_server.c. Standard
// library only; scripts/bench.mk builds it with Debian's golang-go into build/bench/echo-go and
// scripts/bench-net.sh runs it with GOMAXPROCS=1.
//
// Usage: echo-go [--port N] [--port-file PATH] [--backlog N]
//
// Binds 127.0.0.1:N (0: ephemeral), writes the port to PATH via a temporary name and rename(),
// prints "listening on PORT". Each connection gets a goroutine with a 4 KiB buffer that loops
// Read -> Write (Write writes everything) until EOF or an error. --backlog is accepted for the
// common command line but Go always listens with net.core.somaxconn. Accept errors that are
// temporary (EMFILE, ENFILE, ...) print one line on stderr and pause 10 ms. The soft
// RLIMIT_NOFILE is raised to the hard limit; SIGTERM exits 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: ephemeral)")
	portFile := flag.String("port-file", "", "write the bound port to this file")
	flag.Int("backlog", 4096, "ignored: Go listens with net.core.somaxconn")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: echo-go [--port N] [--port-file PATH] [--backlog N]")
		os.Exit(2)
	}

	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		os.Exit(0)
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		tmp := fmt.Sprintf("%s.tmp.%d", *portFile, os.Getpid())
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(bound)+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "echo-go:", err)
			os.Exit(1)
		}
		if err := os.Rename(tmp, *portFile); err != nil {
			fmt.Fprintln(os.Stderr, "echo-go:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("listening on %d\n", bound)

	shortage := false
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // EMFILE is "temporary"
				if !shortage {
					fmt.Fprintln(os.Stderr, "echo-go: accept:", err, "(retrying every 10 ms)")
				}
				shortage = true
				time.Sleep(10 * time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, "echo-go: accept:", err)
			os.Exit(1)
		}
		shortage = false
		go serve(c)
	}
}
