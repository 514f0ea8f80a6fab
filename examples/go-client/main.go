// A small Go client of the captcha service, built from stubs generated from
// proto/captcha/v1/captcha.proto (see gen.sh): the proof that a backend team in another
// language can call the service with the contract as it stands.
//
//	go run . -addr localhost:50051 -image picture.png -color red
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	captchav1 "github.com/invoice-captcha/captcha-reader/gen/go/captcha/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

var colors = map[string]captchav1.Color{
	"red": captchav1.Color_COLOR_RED, "yellow": captchav1.Color_COLOR_YELLOW,
	"blue": captchav1.Color_COLOR_BLUE, "black": captchav1.Color_COLOR_BLACK,
}

func main() {
	addr := flag.String("addr", "localhost:50051", "server host:port")
	image := flag.String("image", "", "picture to read")
	color := flag.String("color", "red", "red, yellow, blue or black")
	flag.Parse()

	picture, err := os.ReadFile(*image)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read picture:", err)
		os.Exit(2)
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	client := captchav1.NewCaptchaServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	reply, err := client.Recognize(ctx, &captchav1.RecognizeRequest{
		Image: picture, Color: colors[*color], RequestId: "go-client"})
	if err != nil {
		st := status.Convert(err)
		out, _ := json.Marshal(map[string]string{"code": st.Code().String(), "message": st.Message()})
		fmt.Println(string(out))
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{
		"text": reply.GetText(), "confidence": reply.GetConfidence(), "route": reply.GetRoute().String(),
		"model": reply.GetModel(), "version": reply.GetModelVersion(), "request_id": reply.GetRequestId(),
	})
	fmt.Println(string(out))
}
