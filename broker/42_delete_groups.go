package broker

// DeleteGroups (key 42), versions from group.SupportedVersions() and v3, which adds an
// error message to each group's error (the error's description): an adapter onto the
// group coordinator. Needs DELETE on each group.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	e := groupAPI(kmsg.DeleteGroups, h((*Broker).handleDeleteGroups), hook(authzDeleteGroups))
	e.max = max(e.max, 3)
	register(e)
}

func (b *Broker) handleDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	if req.Version < 3 {
		return b.groups.DeleteGroups(ctx, req), nil
	}
	v2 := *req
	v2.Version = 2
	resp := b.groups.DeleteGroups(ctx, &v2)
	resp.SetVersion(req.Version)
	withErrorMessages(resp)
	return resp, nil
}

// withErrorMessages sets each failed group's error message (v3+).
func withErrorMessages(resp *kmsg.DeleteGroupsResponse) {
	for i := range resp.Groups {
		if g := &resp.Groups[i]; g.ErrorCode != 0 && g.ErrorMessage == nil {
			if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
				var ke *kerr.Error
				if errors.As(err, &ke) {
					g.ErrorMessage = kmsg.StringPtr(ke.Description)
				}
			}
		}
	}
}

func authzDeleteGroups(b *Broker, ctx context.Context, req *kmsg.DeleteGroupsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.Groups, denied = split(req.Groups, func(g string) bool { return b.groupAllowed(ctx, kmsg.ACLOperationDelete, g) })
	var resp *kmsg.DeleteGroupsResponse
	if len(req.Groups) > 0 {
		r, err := next(req)
		if err != nil || len(denied) == 0 {
			return r, err
		}
		resp = r.(*kmsg.DeleteGroupsResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	}
	for _, g := range denied {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = g
		rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	if resp.Version >= 3 {
		withErrorMessages(resp)
	}
	return resp, nil
}
