import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ErrorResponder } from './error-responder.js';
import { JsonBodyInterceptor } from './json-body.interceptor.js';

@Global()
@Module({ providers: [ErrorResponder, { provide: APP_INTERCEPTOR, useClass: JsonBodyInterceptor }], exports: [ErrorResponder] })
export class HttpModule {}
