package outbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/providers"
)

func BenchmarkSendEML(b *testing.B) {
	ch, err := Open(context.Background(), providersReq(b.TempDir(), "eml"))
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	for i := 0; b.Loop(); i++ {
		if res := ch.Send(context.Background(), email(fmt.Sprintf("k-%d", i))); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkSendJSONL(b *testing.B) {
	ch, err := Open(context.Background(), providersReq(b.TempDir(), "jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	for i := 0; b.Loop(); i++ {
		if res := ch.Send(context.Background(), email(fmt.Sprintf("k-%d", i))); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func providersReq(dir, format string) providers.ChannelRequest {
	return providers.ChannelRequest{Dir: dir, Provider: provider(map[string]cty.Value{"dir": cty.StringVal("outbox"), "format": cty.StringVal(format)})}
}
