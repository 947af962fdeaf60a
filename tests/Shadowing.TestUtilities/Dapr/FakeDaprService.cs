using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Shadowing.TestUtilities.Dapr;

/// <summary>
/// The gRPC methods of <c>dapr.proto.runtime.v1.Dapr</c> that the adapters use, bound by hand because
/// Dapr.Protos ships client stubs only.
/// </summary>
internal sealed class FakeDaprService(FakeDaprState state)
{
    private const string ServiceName = "dapr.proto.runtime.v1.Dapr";

    private Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context)
    {
        state.CheckFault("GetState");
        var entry = state.Get(request.Key);
        return Task.FromResult(entry is { } e
            ? new GetStateResponse { Data = ByteString.CopyFrom(e.Value), Etag = e.ETag }
            : new GetStateResponse());
    }

    private Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context)
    {
        state.CheckFault("SaveState");
        foreach (var item in request.States)
        {
            var firstWrite = item.Options?.Concurrency == StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite;
            if (state.Apply([new(item.Key, item.Value.ToByteArray(), item.Etag?.Value, firstWrite)]) is { } key)
            {
                throw new RpcException(new Status(StatusCode.Aborted, $"failed saving state in state store {request.StoreName}: possible etag mismatch. error from state store: key {key}"));
            }
        }

        return Task.FromResult(new Empty());
    }

    private Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context)
    {
        state.CheckFault("DeleteState");
        if (state.Apply([new(request.Key, null, request.Etag?.Value, false)]) is { } key)
        {
            throw new RpcException(new Status(StatusCode.Aborted, $"failed deleting state with key {key}: possible etag mismatch. error from state store: key {key}"));
        }

        return Task.FromResult(new Empty());
    }

    private Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context)
    {
        state.CheckFault("ExecuteStateTransaction");
        var writes = new List<FakeDaprState.Write>();
        foreach (var operation in request.Operations)
        {
            var item = operation.Request;
            writes.Add(operation.OperationType switch
            {
                "upsert" => new(item.Key, item.Value.ToByteArray(), item.Etag?.Value, false),
                "delete" => new(item.Key, null, item.Etag?.Value, false),
                _ => throw new RpcException(new Status(StatusCode.Unimplemented, $"operation type {operation.OperationType} not supported")),
            });
        }

        if (state.Apply(writes) is { } key)
        {
            // daprd reports a failed transaction as Internal with the store's message, not as Aborted.
            throw new RpcException(new Status(StatusCode.Internal, $"error while executing state transaction: possible etag mismatch. error from state store: key {key}"));
        }

        return Task.FromResult(new Empty());
    }

    private Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context)
    {
        state.CheckFault("PublishEvent");
        var published = new PublishedEvent(request.PubsubName, request.Topic, request.Data.ToByteArray(), request.DataContentType);
        state.Published.Enqueue(published);
        state.Deliver(published);
        return Task.FromResult(new Empty());
    }

    internal sealed class MethodProvider : IServiceMethodProvider<FakeDaprService>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<FakeDaprService> context)
        {
            Add(context, "GetState", GetStateRequest.Parser, (s, r, c) => s.GetState(r, c));
            Add(context, "SaveState", SaveStateRequest.Parser, (s, r, c) => s.SaveState(r, c));
            Add(context, "DeleteState", DeleteStateRequest.Parser, (s, r, c) => s.DeleteState(r, c));
            Add(context, "ExecuteStateTransaction", ExecuteStateTransactionRequest.Parser, (s, r, c) => s.ExecuteStateTransaction(r, c));
            Add(context, "PublishEvent", PublishEventRequest.Parser, (s, r, c) => s.PublishEvent(r, c));
        }

        private static void Add<TRequest, TResponse>(
            ServiceMethodProviderContext<FakeDaprService> context,
            string name,
            MessageParser<TRequest> parser,
            UnaryServerMethod<FakeDaprService, TRequest, TResponse> invoker)
            where TRequest : class, IMessage<TRequest>
            where TResponse : class, IMessage<TResponse>, new()
        {
            var method = new Method<TRequest, TResponse>(
                MethodType.Unary,
                ServiceName,
                name,
                Marshallers.Create(m => m.ToByteArray(), parser.ParseFrom),
                Marshallers.Create(m => m.ToByteArray(), new MessageParser<TResponse>(() => new TResponse()).ParseFrom));
            context.AddUnaryMethod(method, [], invoker);
        }
    }
}
