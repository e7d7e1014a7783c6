// A SUT in Go that calls Stripe as an unmodified service does: stripe-go's default client
// (https://api.stripe.com, Go's default transport), no base URL, proxy or certificate setting of
// its own. Only the stage's environment (HTTPS_PROXY, SSL_CERT_FILE) brings it to the mock provider.
// POST /pay/{id} creates a PaymentIntent and reads it back, answering what the provider said and
// how long the two calls took; an SDK error is answered 502.
//
//	PORT=8000 PROVIDER_API_KEY=sk_test_... go run .
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/stripe/stripe-go/v84"
)

func reply(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func main() {
	client := stripe.NewClient(os.Getenv("PROVIDER_API_KEY"))
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"api_base": stripe.APIURL})
	})
	http.HandleFunc("POST /pay/{id}", func(w http.ResponseWriter, r *http.Request) {
		orderID := r.PathValue("id")
		started := time.Now()
		params := &stripe.PaymentIntentCreateParams{Amount: stripe.Int64(1200), Currency: stripe.String("eur")}
		params.AddMetadata("order_id", orderID)
		params.SetIdempotencyKey(orderID)
		created, err := client.V1PaymentIntents.Create(r.Context(), params)
		if err != nil {
			reply(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
			return
		}
		read, err := client.V1PaymentIntents.Retrieve(r.Context(), created.ID, nil)
		if err != nil {
			reply(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"id": read.ID, "status": read.Status, "amount": read.Amount,
			"order_id": read.Metadata["order_id"], "seconds": time.Since(started).Seconds()})
	})
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{}) // the stripe dialect's webhooks: acknowledged, unused
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
