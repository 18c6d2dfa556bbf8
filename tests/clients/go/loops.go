// SPDX-License-Identifier: MIT
//
// Publish/consume/confirm/close loops with amqp091-go (Debian's
// golang-github-rabbitmq-amqp091-go-dev), unchanged, against a broker:
// every confirm arrives and is an ack, every message is consumed once and
// in order, Connection.Close gets Close-Ok (no "501 EOF" or other error)
// also when many goroutines close one connection at once, and direct
// reply-to works for an RPC round trip. Bounded in count and time.
//
//	loops -url amqp://guest:guest@198.18.0.1:5672/ [-n 2000] [-conns 20]
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL "+format+"\n", a...)
	os.Exit(1)
}

// publishConsume: n confirmed publishes, then n deliveries acked in order.
func publishConsume(url string, n int) {
	conn, err := amqp.Dial(url)
	if err != nil {
		fail("dial: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		fail("channel: %v", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		fail("queue declare: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		fail("confirm select: %v", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	for i := 0; i < n; i++ {
		body := []byte(fmt.Sprintf("m%d", i))
		if err := ch.Publish("", q.Name, false, false, amqp.Publishing{Body: body}); err != nil {
			fail("publish %d: %v", i, err)
		}
	}
	timeout := time.After(20 * time.Second)
	for i := 1; i <= n; i++ {
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != uint64(i) {
				fail("confirm %d: %+v", i, c)
			}
		case <-timeout:
			fail("confirms: %d of %d after 20 s", i-1, n)
		}
	}
	if err := ch.Qos(100, 0, false); err != nil {
		fail("qos: %v", err)
	}
	msgs, err := ch.Consume(q.Name, "", false, false, false, false, nil)
	if err != nil {
		fail("consume: %v", err)
	}
	for i := 0; i < n; i++ {
		select {
		case d := <-msgs:
			if string(d.Body) != fmt.Sprintf("m%d", i) {
				fail("delivery %d: %q", i, d.Body)
			}
			if err := d.Ack(false); err != nil {
				fail("ack %d: %v", i, err)
			}
		case <-timeout:
			fail("deliveries: %d of %d after 20 s", i, n)
		}
	}
	if err := ch.Close(); err != nil {
		fail("channel close: %v", err)
	}
	if err := conn.Close(); err != nil {
		fail("connection close: %v", err)
	}
}

// closeRace: goroutines close one connection together; each Close returns
// nil or ErrClosed (at least one nil), never an AMQP error such as
// "501 EOF" (the broker ending the socket before every Close it read got
// its Close-Ok, which Lepus did before it answered each).
func closeRace(url string, conns int) {
	for c := 0; c < conns; c++ {
		conn, err := amqp.Dial(url)
		if err != nil {
			fail("dial %d: %v", c, err)
		}
		if _, err := conn.Channel(); err != nil {
			fail("channel %d: %v", c, err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- conn.Close()
			}()
		}
		wg.Wait()
		close(errs)
		clean := 0
		for err := range errs {
			switch {
			case err == nil:
				clean++
			case errors.Is(err, amqp.ErrClosed):
			case errors.Is(err, net.ErrClosed):
				// amqp091-go 1.5's own race: a goroutine writes its Close
				// after another shut the socket (seen against RabbitMQ too).
			default:
				fail("connection %d: Close from a goroutine: %v", c, err)
			}
		}
		if clean == 0 {
			fail("connection %d: no Close returned cleanly", c)
		}
	}
}

// rpc: a request over direct reply-to, answered by a responder connection.
func rpc(url string) {
	server, err := amqp.Dial(url)
	if err != nil {
		fail("dial: %v", err)
	}
	defer server.Close()
	sch, _ := server.Channel()
	q, err := sch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		fail("rpc queue: %v", err)
	}
	reqs, _ := sch.Consume(q.Name, "", true, false, false, false, nil)
	go func() {
		for d := range reqs {
			sch.Publish("", d.ReplyTo, false, false,
				amqp.Publishing{CorrelationId: d.CorrelationId, Body: append([]byte("re:"), d.Body...)})
		}
	}()
	client, err := amqp.Dial(url)
	if err != nil {
		fail("dial: %v", err)
	}
	defer client.Close()
	cch, _ := client.Channel()
	replies, err := cch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	if err != nil {
		fail("consume reply-to: %v", err)
	}
	if err := cch.Publish("", q.Name, false, false, amqp.Publishing{
		ReplyTo: "amq.rabbitmq.reply-to", CorrelationId: "c1", Body: []byte("ping")}); err != nil {
		fail("rpc publish: %v", err)
	}
	select {
	case r := <-replies:
		if string(r.Body) != "re:ping" || r.CorrelationId != "c1" {
			fail("rpc reply: %q %q", r.Body, r.CorrelationId)
		}
	case <-time.After(10 * time.Second):
		fail("rpc: no reply after 10 s")
	}
}

func main() {
	url := flag.String("url", "amqp://guest:guest@127.0.0.1:5672/", "broker URL")
	n := flag.Int("n", 2000, "messages per publish/consume loop")
	conns := flag.Int("conns", 20, "connections closed by 8 goroutines each")
	loops := flag.Int("loops", 3, "publish/consume loops")
	flag.Parse()
	for i := 0; i < *loops; i++ {
		publishConsume(*url, *n)
	}
	fmt.Printf("ok   go publish/consume/confirm: %d loops of %d\n", *loops, *n)
	closeRace(*url, *conns)
	fmt.Printf("ok   go close race: %d connections, 8 goroutines each\n", *conns)
	rpc(*url)
	fmt.Println("ok   go direct reply-to")
}
