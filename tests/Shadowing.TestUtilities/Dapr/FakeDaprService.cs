using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Shadowing.TestUtilities.Dapr;

/// <summary>
/// The gRPC methods of <c>dapr.proto.runtime.v1.Dapr</c> that the adapters use, bound by hand because
/// Dapr.Protos ships client stubs only. Component errors become gRPC errors the way daprd's
/// <c>pkg/api/grpc/grpc.go</c> makes them: <c>getStateErrorCode</c> (an ETag mismatch is <c>Aborted</c>, an invalid
/// ETag <c>InvalidArgument</c>, anything else <c>Internal</c>) with the messages of <c>pkg/messages/predefined.go</c>;
/// a transaction always fails <c>Internal</c>.
/// </summary>
internal sealed class FakeDaprService(FakeDaprState state)
{
    private const string ServiceName = "dapr.proto.runtime.v1.Dapr";

    private Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context)
    {
        state.Enter("GetState", context);

        // GetState of a missing key is not an error: empty data and etag "" (stringValueOrEmpty(nil)).
        var entry = state.LoadedStore(request.StoreName).Get(request.Key);
        return Task.FromResult(entry is { } e
            ? new GetStateResponse { Data = ByteString.CopyFrom(e.Value), Etag = e.ETag }
            : new GetStateResponse());
    }

    private Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context)
    {
        state.Enter("SaveState", context);
        foreach (var item in request.States)
        {
            try
            {
                state.LoadedStore(request.StoreName).Set(item.Key, item.Value.ToByteArray(), item.Etag?.Value, Concurrency(item.Options), Ttl(item.Metadata));
            }
            catch (FakeStoreException ex)
            {
                throw new RpcException(new Status(Code(ex), $"failed saving state in state store {request.StoreName}: {ex.Message}"));
            }
        }

        return Task.FromResult(new Empty());
    }

    private Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context)
    {
        state.Enter("DeleteState", context);
        try
        {
            state.LoadedStore(request.StoreName).Delete(request.Key, request.Etag?.Value, Concurrency(request.Options));
        }
        catch (FakeStoreException ex)
        {
            throw new RpcException(new Status(Code(ex), $"failed deleting state with key {request.Key}: {ex.Message}"));
        }

        return Task.FromResult(new Empty());
    }

    private Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context)
    {
        state.Enter("ExecuteStateTransaction", context);
        var operations = new List<FakeStateOperation>();
        var store = state.LoadedStore(request.StoreName);
        var outbox = state.Outboxes.TryGetValue(request.StoreName, out var target) ? target : ((string PubSub, string Topic)?)null;
        var projections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var contentTypes = new Dictionary<string, string>(StringComparer.Ordinal);
        var published = new List<string>();
        foreach (var operation in request.Operations)
        {
            // The outbox (docs: howto-outbox): an upsert with metadata outbox.projection=true is not written; its value is
            // what is published for the upsert of the same key instead of that upsert's value. Deletes are not published.
            if (outbox is not null && operation.OperationType == "upsert" && operation.Request.Metadata.TryGetValue("outbox.projection", out var projection) && projection == "true")
            {
                projections[operation.Request.Key] = operation.Request.Value.ToByteArray();
                if (operation.Request.Metadata.TryGetValue("contentType", out var projected))
                {
                    contentTypes[operation.Request.Key] = projected; // the projection's, over the upsert's
                }

                continue;
            }

            if (outbox is not null && operation.OperationType == "upsert")
            {
                published.Add(operation.Request.Key);
                if (operation.Request.Metadata.TryGetValue("contentType", out var own))
                {
                    contentTypes.TryAdd(operation.Request.Key, own);
                }
            }

            var item = operation.Request;
            operations.Add(operation.OperationType switch
            {
                "upsert" => new(item.Key, item.Value.ToByteArray(), item.Etag?.Value, Concurrency(item.Options), Ttl(item.Metadata)),
                "delete" => new(item.Key, null, item.Etag?.Value, Concurrency(item.Options)),
                _ => throw new RpcException(new Status(StatusCode.Unimplemented, $"operation type {operation.OperationType} not supported")),
            });
        }

        if (projections.Keys.FirstOrDefault(k => !published.Contains(k)) is { } unmatched)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"error while executing state transaction: outbox projection for key {unmatched} has no matching upsert"));
        }

        try
        {
            store.Multi(operations);
        }
        catch (FakeStoreException ex)
        {
            // daprd publishes the changes to its internal topic before the write and adds a marker key as the transaction's
            // last operation (pkg/runtime/pubsub/outbox.go); the handler publishes once it finds the marker. Redis's pipeline
            // applies the marker even when another operation failed (no rollback), so the changes go out anyway; only an
            // invalid ETag stops it before anything is sent. PostgreSQL rolls the marker back with the rest.
            if (outbox is not null && !store.RollsBackTransactions && ex.Kind != FakeStoreErrorKind.ETagInvalid)
            {
                PublishOutbox(outbox.Value, published, projections, contentTypes, operations);
            }

            // ExecuteStateTransaction: apierrors.Basic(codes.Internal, …, messages.ErrStateTransaction), whatever the error.
            throw new RpcException(new Status(StatusCode.Internal, $"error while executing state transaction: {ex.Message}"));
        }

        if (outbox is not null)
        {
            PublishOutbox(outbox.Value, published, projections, contentTypes, operations);
        }

        return Task.FromResult(new Empty());
    }

    private void PublishOutbox((string PubSub, string Topic) outbox, IEnumerable<string> published, IReadOnlyDictionary<string, byte[]> projections, IReadOnlyDictionary<string, string> contentTypes, IReadOnlyList<FakeStateOperation> operations)
    {
        foreach (var key in published)
        {
            // The content type is the metadata's (contentType on the projection, else on the upsert), or none, which the
            // envelope reads as text/plain (pkg/runtime/pubsub/outbox.go): JSON without it arrives as a string.
            var data = projections.TryGetValue(key, out var projected) ? projected : operations.First(o => o.Key == key).Value!;
            state.PubSub.Publish(new PublishedEvent(outbox.PubSub, outbox.Topic, data, contentTypes.GetValueOrDefault(key, string.Empty)));
        }
    }

    private Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context)
    {
        state.Enter("PublishEvent", context);
        state.RequirePubSub(request.PubsubName);
        // daprd turns ttlInSeconds into the CloudEvent's expiration (pubsub.NewCloudEventsEnvelope / ApplyMetadata).
        DateTimeOffset? expiresAt = request.Metadata.TryGetValue("ttlInSeconds", out var ttl) && long.TryParse(ttl, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            ? TimeProvider.System.GetUtcNow().AddSeconds(seconds)
            : null;
        state.PubSub.Publish(new PublishedEvent(request.PubsubName, request.Topic, request.Data.ToByteArray(), request.DataContentType, expiresAt));
        return Task.FromResult(new Empty());
    }

    private static StatusCode Code(FakeStoreException error) => error.Kind switch
    {
        FakeStoreErrorKind.ETagMismatch => StatusCode.Aborted,
        FakeStoreErrorKind.ETagInvalid => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    };

    /// <summary>A state write's <c>ttlInSeconds</c> metadata; the components refuse one that is not a whole number.</summary>
    private static int? Ttl(IDictionary<string, string> metadata) =>
        !metadata.TryGetValue("ttlInSeconds", out var value) || value.Length == 0 ? null
        : int.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds
        : throw new RpcException(new Status(StatusCode.Internal, $"failed to parse ttl from metadata: strconv.ParseInt: parsing \"{value}\": invalid syntax"));

    private static FakeConcurrency Concurrency(StateOptions? options) => options?.Concurrency switch
    {
        StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite => FakeConcurrency.FirstWrite,
        StateOptions.Types.StateConcurrency.ConcurrencyLastWrite => FakeConcurrency.LastWrite,
        _ => FakeConcurrency.Unspecified,
    };

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
