using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;
using Shadowing.Functions;
using Shadowing.Hosting;

MallocArenas.Apply(restart: false); // the Functions host starts the worker: set MALLOC_ARENA_MAX=2 as an app setting for the full cap

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddShadowingFunctions(builder.Configuration);
builder.Build().Run();
