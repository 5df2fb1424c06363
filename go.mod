module github.com/socketd/socketd

go 1.26.8

require (
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/lesismal/llib v1.2.5 // indirect
	github.com/lesismal/nbio v1.6.8 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
