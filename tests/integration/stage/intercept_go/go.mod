module orderquake.test/intercept_go

go 1.22

require github.com/stripe/stripe-go/v84 v84.4.1
