package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// deadLetters implements harrierv1.DeadLettersServer over the store and the
// pipeline (which replays through the output's own worker).
type deadLetters struct {
	harrierv1.UnimplementedDeadLettersServer
	store deadLetterStore
	r     *Router
}

func (d *deadLetters) List(_ context.Context, req *harrierv1.ListDeadLettersRequest) (*harrierv1.ListDeadLettersResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 1000
	}
	ls, total, err := d.store.List(req.GetOutput(), limit)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &harrierv1.ListDeadLettersResponse{DeadLetters: ls, Total: uint64(total)}, nil
}

func (d *deadLetters) Replay(ctx context.Context, req *harrierv1.ReplayDeadLettersRequest) (*harrierv1.ReplayDeadLettersResponse, error) {
	outputs := []string{req.GetOutput()}
	if req.GetOutput() == "" {
		var err error
		if outputs, err = d.store.Outputs(); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	p := d.r.pipeline()
	running := map[string]bool{}
	for _, n := range p.Outputs() {
		running[n] = true
	}
	resp := &harrierv1.ReplayDeadLettersResponse{}
	for _, o := range outputs {
		if !running[o] {
			if req.GetOutput() != "" {
				return nil, status.Errorf(codes.NotFound, "output %q is not configured", o)
			}
			resp.SkippedOutputs = append(resp.SkippedOutputs, o)
			continue
		}
		ok, failed, err := p.Replay(ctx, o)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "%s: %v", o, err)
		}
		resp.Replayed += uint64(ok)
		resp.Failed += uint64(failed)
	}
	return resp, nil
}
