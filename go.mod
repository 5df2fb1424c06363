module github.com/socketd/socketd

go 1.26.8

require (
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/lesismal/nbio v1.6.8 // indirect
)
