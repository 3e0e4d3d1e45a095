package broker

// DescribeCluster (key 60), versions 0-2.
//
// This node as the only broker and the controller. EndpointType (v1+) 1 = brokers is
// served; 2 = controllers is UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers.
// Authorized operations are not computed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

func init() {
	register(apiEntry{key: kmsg.DescribeCluster, min: 0, max: 2, handle: h((*Broker).handleDescribeCluster), authz: hook(authzDescribeCluster)})
}

func (b *Broker) handleDescribeCluster(ctx context.Context, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.EndpointType = req.EndpointType
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp, nil
	}
	resp.ClusterID = b.servedClusterID()
	resp.ControllerID = b.cfg.NodeID
	host, port := b.advertisedHostPort(ctx)
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID = b.cfg.NodeID
	br.Host = host
	br.Port = port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return resp, nil
}

func authzDescribeCluster(b *Broker, ctx context.Context, req *kmsg.DescribeClusterRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		r, err := next(req)
		if err == nil && req.IncludeClusterAuthorizedOperations {
			if dc, ok := r.(*kmsg.DescribeClusterResponse); ok && dc.ErrorCode == 0 {
				dc.ClusterAuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeCluster, security.ClusterName, clusterOps)
			}
		}
		return r, err
	}
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	return resp, nil
}
