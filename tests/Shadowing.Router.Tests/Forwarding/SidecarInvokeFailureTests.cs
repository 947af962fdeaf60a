using System.Text;
using Shadowing.Router.Forwarding;

namespace Shadowing.Router.Tests.Forwarding;

public sealed class SidecarInvokeFailureTests
{
    [Fact]
    public void Exception_DaprdCouldNotReachTheApp_IsAConnectionError_UnlessItsChannelBrokeAfterSending()
    {
        Assert.Equal(HttpRequestError.ConnectionError, Assert.IsType<HttpRequestException>(new SidecarInvokeFailure("failed to invoke, id: orders, err: couldn't find service: orders").Exception).HttpRequestError);
        Assert.Equal(HttpRequestError.ResponseEnded, Assert.IsType<HttpRequestException>(new SidecarInvokeFailure("failed to invoke, id: orders, err: rpc error: code = Internal desc = error invoking app channel: no response received from stream").Exception).HttpRequestError);
    }

    [Theory]
    // daprd's own bodies (dapr/dapr tests/integration/suite/daprd/serviceinvocation/http/ssepanic.go, and an app down).
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke, id: orders, err: rpc error: code = Internal desc = error invoking app channel: no response received from stream\"}", true)]
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke, id: orders, err: couldn't find service: orders\"}", true)]
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"invoke API is not ready\"}", true)]
    // An app's own 500s, which daprd passes through as they are.
    [InlineData("{\"errorCode\":\"ORDER_REJECTED\",\"message\":\"failed to invoke, id: x, err: y\"}", false)]
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke, id: x, err: y\",\"orderId\":7}", false)]
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"the payment service failed\"}", false)]
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":7}", false)]
    [InlineData("[\"ERR_DIRECT_INVOKE\"]", false)]
    [InlineData("{\"errorCode\":\"ERR_DIRECT_INVOKE\",\"message\":\"failed to invoke, id: x", false)]
    [InlineData("not json", false)]
    public void Parse_TellsDaprdsOwnErrorFromAnAppsAnswer(string body, bool daprds) =>
        Assert.Equal(daprds, SidecarInvokeFailure.Parse(Encoding.UTF8.GetBytes(body)) is not null);
}
