using Shadowing.Workflows;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddShadowingWorkflows(builder.Configuration);
var app = builder.Build();
app.MapShadowingWorkflows();
await app.RunAsync();
