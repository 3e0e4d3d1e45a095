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
)

func (b *Broker) handleDescribeCluster(ctx context.Context, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.EndpointType = req.EndpointType
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp, nil
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	host, port := b.advertisedHostPort(ctx)
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID = b.cfg.NodeID
	br.Host = host
	br.Port = port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return resp, nil
}
